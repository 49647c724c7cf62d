import { mockIPC } from '@tauri-apps/api/mocks';
import { render, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../bindings/AuditEvent';
import type { Owner } from '../../bindings/Owner';
import type { Settings } from '../../bindings/Settings';
import AuditView from './AuditView.svelte';
import { normalizeKeyId, summarizeDetails } from './format';
import OwnersView from './OwnersView.svelte';
import SettingsView from './SettingsView.svelte';
import { ALL_ALLOWED } from '../../test/fixtures';

const SETTINGS: Settings = {
  default_expiry_days: 90,
  clipboard_clear_seconds: 30,
  key_prefix: 'kw',
  owner_key_limit: 5,
  scope_catalogue: ['read', 'write'],
};

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element as T;
}

type Call = { cmd: string; args: Record<string, unknown> };

function backend(handler: (cmd: string, args: Record<string, unknown>) => unknown): Call[] {
  const calls: Call[] = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    return handler(cmd, args);
  });
  return calls;
}

describe('SettingsView', () => {
  it('saves only after a change, checks the prefix first, and confirms', async () => {
    const calls = backend((cmd, args) => {
      if (cmd === 'get_settings') return SETTINGS;
      if (cmd === 'update_settings') return args.settings;
      return null;
    });
    render(SettingsView, { props: { permissions: ALL_ALLOWED } });
    const user = userEvent.setup();
    const save = await waitFor(() => byId<HTMLButtonElement>('save-settings-btn'));
    expect(save).toBeDisabled();

    const prefix = byId<HTMLInputElement>('setting-key-prefix');
    await user.clear(prefix);
    await user.type(prefix, 'AC');
    expect(save).toBeEnabled();
    await user.click(save);
    expect(prefix).toHaveAttribute('aria-invalid', 'true');
    expect(calls.some((c) => c.cmd === 'update_settings')).toBe(false);

    await user.clear(prefix);
    await user.type(prefix, 'acme');
    await user.type(byId('new-scope-input'), 'bad scope{Enter}');
    expect(document.body).toHaveTextContent('is not a valid scope');
    await user.clear(byId('new-scope-input'));
    await user.type(byId('new-scope-input'), 'models:chat');
    await user.click(byId('add-scope-btn'));
    await user.click(
      document.querySelector('.scope-chip[data-scope="read"] button') as HTMLButtonElement,
    );
    expect([...document.querySelectorAll('.scope-chip')].map((c) => c.textContent?.trim())).toEqual([
      'write',
      'models:chat',
    ]);
    await user.selectOptions(byId('setting-default-expiry'), '0');
    await user.click(save);

    await waitFor(() => expect(byId('settings-saved')).toHaveTextContent('Settings saved'));
    const update = calls.find((c) => c.cmd === 'update_settings');
    expect(update?.args.settings).toEqual({
      default_expiry_days: 0,
      clipboard_clear_seconds: 30,
      key_prefix: 'acme',
      owner_key_limit: 5,
      scope_catalogue: ['write', 'models:chat'],
    });
    expect(save).toBeDisabled();
  });

  it('shows an invalid_input error from the backend next to the form', async () => {
    backend((cmd) => {
      if (cmd === 'get_settings') return SETTINGS;
      if (cmd === 'update_settings') {
        throw { kind: 'invalid_input', message: 'The limit per owner must be 1 to 1000 active keys.' };
      }
      return null;
    });
    render(SettingsView, { props: { permissions: ALL_ALLOWED } });
    const user = userEvent.setup();
    const limit = await waitFor(() => byId<HTMLInputElement>('setting-owner-limit'));
    await user.clear(limit);
    await user.type(limit, '7');
    await user.click(byId('save-settings-btn'));
    await waitFor(() => expect(byId('settings-error')).toHaveTextContent('must be 1 to 1000'));
    expect(document.getElementById('settings-saved')).toBeNull();
  });
});

const EVENTS: AuditEvent[] = [
  {
    seq: 3,
    at: '2025-03-05T10:00:00Z',
    actor: 'alice',
    action: 'key_updated',
    key_id: '3fJk9QzP0a',
    details: JSON.stringify({ owner: { from: 'Alice', to: 'Bob' }, limit_overridden: true }),
  },
  {
    seq: 2,
    at: '2025-03-04T10:00:00Z',
    actor: 'alice',
    action: 'key_created',
    key_id: '3fJk9QzP0a',
    details: JSON.stringify({ name: 'Billing', owner: 'Alice', role: 'standard', scopes: [] }),
  },
];

describe('AuditView', () => {
  it('lists events with labels and exports with the current filters', async () => {
    const calls = backend((cmd) => {
      if (cmd === 'audit_page') return { events: EVENTS, total: 2, offset: 0 };
      if (cmd === 'export_audit') return { path: '/tmp/audit.csv', count: 2 };
      return null;
    });
    render(AuditView, { props: { permissions: ALL_ALLOWED } });
    const user = userEvent.setup();
    await waitFor(() => expect(document.querySelectorAll('tr.audit-row')).toHaveLength(2));
    const first = document.querySelector('tr.audit-row') as HTMLElement;
    expect(first).toHaveTextContent('Key updated');
    expect(first).toHaveTextContent('owner: Alice → Bob; limit overridden');
    expect(document.querySelectorAll('tr.audit-row')[1]).toHaveTextContent('Billing');

    await user.type(byId('audit-key-filter'), 'kw_3fJk9QzP0a');
    await user.selectOptions(byId('audit-action-filter'), 'key_updated');
    await waitFor(() =>
      expect(calls.filter((c) => c.cmd === 'audit_page').at(-1)?.args.query).toEqual({
        key_id: '3fJk9QzP0a',
        action: 'key_updated',
        offset: 0,
        limit: 50,
      }),
    );

    await user.click(byId('export-csv-btn'));
    await waitFor(() =>
      expect(byId('export-result')).toHaveTextContent('Saved 2 events to /tmp/audit.csv'),
    );
    const exported = calls.find((c) => c.cmd === 'export_audit');
    expect(exported?.args).toMatchObject({
      format: 'csv',
      query: { key_id: '3fJk9QzP0a', action: 'key_updated' },
    });
  });

  it('summarises details and strips the key prefix', () => {
    expect(normalizeKeyId('kw_3fJk9QzP0a')).toBe('3fJk9QzP0a');
    expect(normalizeKeyId(' 3fJk9QzP0a ')).toBe('3fJk9QzP0a');
    expect(normalizeKeyId('')).toBeNull();
    expect(summarizeDetails('owner_renamed', '{"from":"Alice","to":"Bob"}')).toBe('Alice → Bob');
    expect(summarizeDetails('settings_changed', '{"owner_key_limit":{"from":5,"to":7}}')).toBe(
      'owner limit: 5 → 7',
    );
    expect(
      summarizeDetails('settings_changed', '{"scope_catalogue":{"from":["read","write"],"to":["a","read"]}}'),
    ).toBe('scopes: +a, −write');
  });
});

describe('OwnersView', () => {
  it('shows usage against the limit, adds an owner, and explains a duplicate', async () => {
    const owners: Owner[] = [
      { name: 'Alice', created_at: '2025-03-04T10:00:00Z', active_keys: 5, total_keys: 6 },
    ];
    const calls = backend((cmd, args) => {
      if (cmd === 'list_owners') return owners;
      if (cmd === 'get_settings') return SETTINGS;
      if (cmd === 'create_owner') {
        const name = args.name as string;
        if (owners.some((o) => o.name.toLowerCase() === name.toLowerCase())) {
          throw { kind: 'invalid_input', message: `There is already an owner called ${name}.` };
        }
        const owner = { name, created_at: '2025-03-05T10:00:00Z', active_keys: 0, total_keys: 0 };
        owners.push(owner);
        return owner;
      }
      return null;
    });
    render(OwnersView, { props: { permissions: ALL_ALLOWED } });
    const user = userEvent.setup();
    const alice = await waitFor(() => {
      const row = document.querySelector('tr.owner-row[data-owner="Alice"]');
      if (!row) throw new Error('no row');
      return row;
    });
    expect(alice).toHaveTextContent('5 / 5 active');
    expect(alice).toHaveTextContent('At limit');

    await user.type(byId('new-owner-input'), 'Bob{Enter}');
    await waitFor(() =>
      expect(document.querySelector('tr.owner-row[data-owner="Bob"]')).toHaveTextContent('0 / 5 active'),
    );
    expect(calls.find((c) => c.cmd === 'create_owner')?.args).toEqual({ name: 'Bob' });
    expect(byId('new-owner-input')).toHaveValue('');

    await user.type(byId('new-owner-input'), 'alice');
    await user.click(byId('create-owner-btn'));
    await waitFor(() => expect(byId('new-owner-message')).toHaveTextContent('already an owner'));
  });
});

describe('navigation', () => {
  it('switches screens from the header and marks the current one', async () => {
    const { default: App } = await import('../../App.svelte');
    const { INFO } = await import('../../test/fixtures');
    backend((cmd) => {
      if (cmd === 'app_info') return INFO;
      if (cmd === 'list_keys') return { keys: [], total: 0, offset: 0 };
      if (cmd === 'list_owners') return [];
      if (cmd === 'get_settings') return SETTINGS;
      if (cmd === 'audit_page') return { events: EVENTS, total: 2, offset: 0 };
      return null;
    });
    render(App);
    const user = userEvent.setup();
    await waitFor(() => expect(byId('nav-keys')).toHaveAttribute('aria-current', 'page'));
    await user.click(byId('nav-settings'));
    await waitFor(() => expect(byId('settings-view')).toBeInTheDocument());
    expect(byId('nav-settings')).toHaveAttribute('aria-current', 'page');
    expect(byId('nav-keys')).not.toHaveAttribute('aria-current');
    expect(document.activeElement).toBe(byId('nav-settings'));
    await user.click(byId('nav-audit'));
    await waitFor(() => expect(document.querySelectorAll('tr.audit-row')).toHaveLength(2));
    await user.click(byId('nav-owners'));
    await waitFor(() => expect(byId('owners-view')).toBeInTheDocument());
    await user.click(byId('nav-keys'));
    await waitFor(() => expect(document.getElementById('owners-view')).toBeNull());
  });
});
