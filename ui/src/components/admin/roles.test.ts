// What each database role is offered on Owners and Settings (with Plans), and live reloads there.
// The rule itself is Rust's (`keyward_core::Permissions`); these check the screens obey it.

import { mockIPC } from '@tauri-apps/api/mocks';
import { render, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { Owner } from '../../bindings/Owner';
import type { Settings } from '../../bindings/Settings';
import { live } from '../../lib/live.svelte';
import { ALL_ALLOWED, MANAGER, UNLIMITED, VERIFIER } from '../../test/fixtures';
import AuditView from './AuditView.svelte';
import OwnersView from './OwnersView.svelte';
import SettingsView from './SettingsView.svelte';

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}

const SETTINGS: Settings = {
  default_expiry_days: 90,
  clipboard_clear_seconds: 30,
  key_prefix: 'kw',
  owner_key_limit: 5,
  scope_catalogue: ['read', 'keyward:verify'],
};

function backend(state: { settings: Settings; owners: Owner[] }) {
  const asked: string[] = [];
  mockIPC((cmd) => {
    asked.push(cmd);
    switch (cmd) {
      case 'get_settings':
        return structuredClone(state.settings);
      case 'list_owners':
        return structuredClone(state.owners);
      case 'list_plans':
        return [UNLIMITED];
      default:
        return null;
    }
  });
  return asked;
}

const ADA: Owner = { name: 'Ada', created_at: '2025-03-04T10:20:00Z', active_keys: 1, total_keys: 1 };

describe('Settings by role', () => {
  for (const [role, permissions] of [
    ['a manager', MANAGER],
    ['a verifier', VERIFIER],
  ] as const) {
    it(`shows ${role} the settings but no way to change them, and says why`, async () => {
      backend({ settings: SETTINGS, owners: [] });
      render(SettingsView, { props: { permissions } });
      await waitFor(() => byId('setting-key-prefix'));
      expect(byId('settings-role-notice')).toHaveTextContent('Only admins can change settings.');
      expect(byId('setting-key-prefix')).toBeDisabled();
      expect(byId('setting-key-prefix')).toHaveValue('kw');
      for (const id of ['save-settings-btn', 'add-scope-btn', 'new-scope-input']) {
        expect(document.getElementById(id)).toBeNull();
      }
      expect(document.querySelector('.chip-remove')).toBeNull();

      await userEvent.setup().click(byId('settings-section-plans'));
      await waitFor(() => expect(document.querySelectorAll('tr.plan-row')).toHaveLength(1));
      expect(document.getElementById('new-plan-btn')).toBeNull();
      expect(document.querySelector('[data-action="edit-plan"], [data-action="delete-plan"]')).toBeNull();
      expect(byId('settings-role-notice')).toHaveTextContent('Only admins can change settings.');
    });
  }

  it('shows an admin every control, and another admin’s saved settings when nothing is typed', async () => {
    const state = { settings: SETTINGS, owners: [] };
    backend(state);
    render(SettingsView, { props: { permissions: ALL_ALLOWED } });
    await waitFor(() => expect(byId('setting-key-prefix')).toBeEnabled());
    expect(document.getElementById('settings-role-notice')).toBeNull();
    expect(byId('save-settings-btn')).toBeInTheDocument();

    state.settings = { ...SETTINGS, key_prefix: 'acme' };
    live.changes += 1;
    await waitFor(() => expect(byId('setting-key-prefix')).toHaveValue('acme'));

    // Typed but not saved: another admin's change does not wipe it.
    const user = userEvent.setup();
    await user.clear(byId('setting-key-prefix'));
    await user.type(byId('setting-key-prefix'), 'mine');
    state.settings = { ...SETTINGS, key_prefix: 'other' };
    live.changes += 1;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(byId('setting-key-prefix')).toHaveValue('mine');
  });
});

describe('Owners by role', () => {
  it('is read-only for a manager, and says why', async () => {
    backend({ settings: SETTINGS, owners: [ADA] });
    render(OwnersView, { props: { permissions: MANAGER } });
    await waitFor(() => expect(document.querySelectorAll('tr.owner-row')).toHaveLength(1));
    expect(byId('owners-role-notice')).toHaveTextContent('Only admins can change owners.');
    expect(document.getElementById('new-owner-input')).toBeNull();
    expect(document.getElementById('create-owner-btn')).toBeNull();
    expect(document.querySelector('[data-action="rename-owner"]')).toBeNull();
  });

  it('shows an admin owners others add, as they add them', async () => {
    const state = { settings: SETTINGS, owners: [ADA] };
    backend(state);
    render(OwnersView, { props: { permissions: ALL_ALLOWED } });
    await waitFor(() => expect(document.querySelectorAll('tr.owner-row')).toHaveLength(1));
    expect(byId('create-owner-btn')).toBeInTheDocument();
    expect(document.querySelector('[data-action="rename-owner"]')).not.toBeNull();

    state.owners = [ADA, { ...ADA, name: 'Grace' }];
    live.changes += 1;
    await waitFor(() => expect(document.querySelectorAll('tr.owner-row')).toHaveLength(2));
  });
});

describe('the Audit log by role', () => {
  it('tells a verifier it is not theirs to read, without asking for it', async () => {
    const asked = backend({ settings: SETTINGS, owners: [] });
    render(AuditView, { props: { permissions: VERIFIER } });
    await waitFor(() =>
      expect(byId('audit-role-notice')).toHaveTextContent('Only admins and managers can read the audit log.'),
    );
    expect(document.getElementById('export-csv-btn')).toBeNull();
    live.changes += 1;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(asked).not.toContain('audit_page');
  });
});
