// What each database role is offered on the Keys screen, and the live reload when others change
// keys. The rule itself is Rust's (`keyward_core::Permissions`); these check the screens obey it.

import { mockIPC } from '@tauri-apps/api/mocks';
import { render, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { AppInfo } from '../../bindings/AppInfo';
import type { KeySummary } from '../../bindings/KeySummary';
import type { Owner } from '../../bindings/Owner';
import { live } from '../../lib/live.svelte';
import { makeKey, MANAGER, teamInfo, UNLIMITED, VERIFIER } from '../../test/fixtures';
import CreateKeyDialog from './CreateKeyDialog.svelte';
import KeysView from './KeysView.svelte';
import KeyDetails from './KeyDetails.svelte';

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}

/** A backend with `keys`; `owners` for the limit. Counts list_keys and get_key calls. */
function backend(keys: KeySummary[], owners: Owner[] = []) {
  const counts = { list_keys: 0, get_key: 0, key_history: 0 };
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    switch (cmd) {
      case 'list_keys':
        counts.list_keys += 1;
        return { keys: structuredClone(keys), total: keys.length, total_exact: true, offset: 0 };
      case 'get_key':
        counts.get_key += 1;
        return structuredClone(keys.find((k) => k.id === args.id));
      case 'key_history':
        counts.key_history += 1;
        return [];
      case 'get_quota_usage':
        return null;
      case 'list_owners':
        return owners;
      case 'list_plans':
        return [UNLIMITED];
      case 'get_settings':
        return {
          default_expiry_days: 90,
          clipboard_clear_seconds: 30,
          key_prefix: 'kw',
          owner_key_limit: 2,
          scope_catalogue: [],
        };
      case 'check_name':
        return { problem: null, name: args.name, length: 1, max: 50 };
      default:
        return null;
    }
  });
  return counts;
}

const renderKeys = (info: AppInfo) => render(KeysView, { props: { info } });
const rows = () => [...document.querySelectorAll<HTMLElement>('tbody tr[data-key-id]')];

describe('the Keys screen by role', () => {
  it('shows a verifier the keys with no change control, and says why in one line', async () => {
    backend([makeKey({ name: 'billing' }), makeKey({ name: 'search', status: 'revoked' })]);
    renderKeys(teamInfo('verifier'));
    await waitFor(() => expect(rows()).toHaveLength(2));

    expect(document.getElementById('create-key-btn')).toBeNull();
    expect(byId('keys-role-notice')).toHaveTextContent('Only admins and managers can change keys.');
    expect(document.querySelectorAll('[data-action="revoke"], [data-action="delete"]')).toHaveLength(0);

    // Selecting still works (to read what is selected), but offers no bulk change either.
    await userEvent.setup().click(rows()[0].querySelector('input.row-select') as HTMLElement);
    expect(byId('bulk-bar')).toHaveTextContent('Only admins and managers can change keys.');
    expect(document.getElementById('bulk-revoke-btn')).toBeNull();
    expect(document.getElementById('bulk-delete-btn')).toBeNull();
  });

  it('tells a verifier on an empty database who can create keys', async () => {
    backend([]);
    renderKeys(teamInfo('verifier'));
    await waitFor(() => byId('empty-state'));
    expect(document.getElementById('empty-create-key-btn')).toBeNull();
    expect(byId('empty-state')).toHaveTextContent('as soon as an admin or a manager creates them');
  });

  it('lets a manager create, revoke and delete keys', async () => {
    backend([makeKey({ name: 'billing' })]);
    renderKeys(teamInfo('manager'));
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(byId('create-key-btn')).toBeEnabled();
    expect(document.getElementById('keys-role-notice')).toBeNull();
    expect(rows()[0].querySelector('[data-action="revoke"]')).not.toBeNull();
  });
});

describe('the create dialog for a manager', () => {
  it('fixes the owner to the manager and offers no limit override', async () => {
    const full: Owner = { name: 'alice', created_at: '2025-03-04T10:20:00Z', active_keys: 2, total_keys: 2 };
    backend([], [full, { ...full, name: 'bob', active_keys: 0 }]);
    render(CreateKeyDialog, {
      props: { currentUser: 'alice', permissions: MANAGER, oncancel: vi.fn(), oncreated: vi.fn() },
    });
    await waitFor(() => expect(byId('owner-usage')).toHaveTextContent('2 / 2 active'));

    expect(document.getElementById('owner-select')).toBeNull();
    expect(byId('owner-fixed')).toHaveTextContent('alice (you)');
    expect(byId('owner-fixed-reason')).toHaveTextContent('Managers create and manage their own keys only.');
    expect(byId('limit-reason')).toBeInTheDocument();
    expect(document.getElementById('override-limit-checkbox')).toBeNull();
    expect(byId('override-refused')).toHaveTextContent('Only admins can go past the limit.');
    await userEvent.setup().type(byId('key-name-input'), 'deploy');
    expect(byId('create-submit-btn')).toBeDisabled();
  });
});

describe('the details panel by role', () => {
  it('offers a verifier no Edit button, and says why', async () => {
    const key = makeKey({ name: 'billing' });
    const counts = backend([key]);
    render(KeyDetails, {
      props: { keyId: key.id, permissions: VERIFIER, onclose: vi.fn(), onchanged: vi.fn(), onerror: vi.fn() },
    });
    await waitFor(() => byId('details-role-notice'));
    expect(byId('details-role-notice')).toHaveTextContent('Only admins and managers can change keys.');
    expect(document.getElementById('edit-key-btn')).toBeNull();
    // A verifier may not read the audit log: no history asked for, and the section says why.
    expect(byId('history-refused')).toHaveTextContent('Only admins and managers can read the audit log.');
    expect(counts.key_history).toBe(0);
  });

  it('lets a manager edit a key but not move it to another owner', async () => {
    const key = makeKey({ name: 'billing', owner: 'alice' });
    backend([key]);
    render(KeyDetails, {
      props: { keyId: key.id, permissions: MANAGER, onclose: vi.fn(), onchanged: vi.fn(), onerror: vi.fn() },
    });
    await userEvent.setup().click(await waitFor(() => byId('edit-key-btn')));
    await waitFor(() => byId('edit-name-input'));
    expect(document.getElementById('edit-owner-select')).toBeNull();
    expect(byId('edit-owner-fixed')).toHaveTextContent('alice');
  });
});

describe('live updates on the Keys screen', () => {
  it('reads the rows and the open details again, keeping the selection and the panel', async () => {
    const keys = [makeKey({ name: 'billing' }), makeKey({ name: 'search' })];
    const counts = backend(keys);
    renderKeys(teamInfo('admin'));
    await waitFor(() => expect(rows()).toHaveLength(2));
    const user = userEvent.setup();
    await user.click(rows()[1].querySelector('input.row-select') as HTMLElement);
    await user.click(rows()[0].querySelector('button.key-name-link') as HTMLElement);
    await waitFor(() => expect(byId('key-details-title')).toHaveTextContent('billing'));
    const listed = counts.list_keys;
    const read = counts.get_key;

    // Someone else revokes "billing" and renames "search".
    keys[0].status = 'revoked';
    keys[0].revoked_at = '2025-03-05T10:00:00Z';
    keys[1].name = 'search (old)';
    live.changes += 1;

    await waitFor(() => expect(rows()[1]).toHaveTextContent('search (old)'));
    expect(rows()[0]).toHaveTextContent('Revoked');
    expect(counts.list_keys).toBeGreaterThan(listed);
    await waitFor(() => expect(counts.get_key).toBeGreaterThan(read));
    await waitFor(() => expect(byId('read-only-notice')).toHaveTextContent('revoked'));
    expect(byId('key-details')).toBeInTheDocument();
    expect((rows()[1].querySelector('input.row-select') as HTMLInputElement).checked).toBe(true);
    expect(byId('bulk-bar')).toHaveTextContent('1 selected');
  });
});
