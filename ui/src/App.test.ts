import { mockIPC } from '@tauri-apps/api/mocks';
import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { AppInfo } from './bindings/AppInfo';
import type { KeySummary } from './bindings/KeySummary';
import type { ListQuery } from './bindings/ListQuery';
import App from './App.svelte';
import { INFO, makeKey, TOKEN, UNLIMITED } from './test/fixtures';

type Handler = (cmd: string, args: Record<string, unknown>) => unknown;

/** A small in-memory backend: enough of the real commands for the UI. */
function backend(initial: KeySummary[], info: AppInfo = INFO, extra?: Handler) {
  const keys = [...initial];
  const queries: ListQuery[] = [];
  const calls: string[] = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push(cmd);
    const override = extra?.(cmd, args);
    if (override !== undefined) return override;
    switch (cmd) {
      case 'app_info':
        return info;
      case 'list_owners':
        return [];
      case 'list_plans':
        return [UNLIMITED];
      case 'get_settings':
        return {
          default_expiry_days: 90,
          clipboard_clear_seconds: 30,
          key_prefix: 'kw',
          owner_key_limit: 5,
          scope_catalogue: ['read', 'write'],
        };
      case 'list_keys': {
        const query = args.query as ListQuery;
        queries.push(query);
        const matching = keys.filter(
          (k) =>
            (query.search === null || k.name.toLowerCase().includes(query.search.toLowerCase())) &&
            (query.status === null || k.status === query.status),
        );
        return {
          keys: matching.slice(query.offset, query.offset + query.limit),
          total: matching.length,
          offset: query.offset,
        };
      }
      case 'create_key': {
        const key = makeKey({ name: (args.input as { name: string }).name });
        keys.unshift(key);
        return { key, token: TOKEN };
      }
      case 'revoke_keys': {
        const ids = args.ids as string[];
        for (const key of keys) if (ids.includes(key.id)) key.status = 'revoked';
        return { revoked: ids, already_revoked: [] };
      }
      case 'delete_keys': {
        const ids = args.ids as string[];
        const before = keys.length;
        keys.splice(0, keys.length, ...keys.filter((k) => !ids.includes(k.id)));
        return before - keys.length;
      }
      default:
        return null;
    }
  });
  return { keys, queries, calls };
}

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}
const rows = () => [...document.querySelectorAll('tbody tr[data-key-id]')];

describe('App', () => {
  it('renders the keys from list_keys, newest first as sent', async () => {
    const active = makeKey({ id: 'aaaaaaaaaa', name: '<b>Billing</b>', last_used_at: null });
    const revoked = makeKey({ id: 'bbbbbbbbbb', status: 'revoked', revoked_at: '2025-03-05T00:00:00Z' });
    const expired = makeKey({ id: 'cccccccccc', status: 'expired', expires_at: null });
    const { queries } = backend([active, revoked, expired]);
    render(App);

    await waitFor(() => expect(rows()).toHaveLength(3));
    expect(queries[0]).toEqual({
      search: null,
      status: null,
      owner: null,
      role: null,
      expiring_within_days: null,
      sort: 'created',
      descending: true,
      offset: 0,
      limit: 50,
    });
    expect(rows().map((r) => r.getAttribute('data-key-id'))).toEqual([
      'aaaaaaaaaa',
      'bbbbbbbbbb',
      'cccccccccc',
    ]);
    const badges = rows().map((r) => r.querySelector('.status-badge')?.textContent);
    expect(badges).toEqual(['Active', 'Revoked', 'Expired']);
    const first = within(rows()[0] as HTMLElement);
    expect(first.getByText('<b>Billing</b>')).toBeInTheDocument(); // plain text, never HTML
    expect(first.getByText('Never used')).toBeInTheDocument();
    expect(rows()[0]).toHaveTextContent(active.masked);
    expect(within(rows()[2] as HTMLElement).getByText('Never')).toBeInTheDocument();
    expect(rows()[1].querySelector('[data-action="revoke"]')).toBeNull();
    expect(rows()[1].querySelector('[data-action="delete"]')).not.toBeNull();
    expect(byId('key-count')).toHaveTextContent('3 keys');
  });

  it('shows the empty state and opens the create dialog from it', async () => {
    backend([]);
    render(App);
    const button = await waitFor(() => byId('empty-create-key-btn'));
    await userEvent.setup().click(button);
    expect(byId('create-dialog')).toBeInTheDocument();
  });

  it('searches in the backend after a short pause and offers to clear the search', async () => {
    const { queries } = backend([makeKey({ name: 'Billing' }), makeKey({ name: 'CI' })]);
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(2));
    const user = userEvent.setup();
    await user.type(byId('search-input'), 'nothing');
    await waitFor(() => expect(byId('no-results')).toHaveTextContent('No keys match “nothing”.'));
    expect(queries.at(-1)).toMatchObject({ search: 'nothing', offset: 0 });
    expect(queries.filter((q) => q.search !== null)).toHaveLength(1); // debounced
    await user.click(byId('clear-search-btn'));
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(byId('search-input')).toHaveValue('');
  });

  it('pages with offsets instead of asking for everything', async () => {
    const many = Array.from({ length: 120 }, () => makeKey());
    const { queries } = backend(many);
    render(App);
    await waitFor(() => expect(byId('key-count')).toHaveTextContent('120 keys'));
    const list = document.querySelector('.table-wrap') as HTMLElement;
    list.scrollTop = 52 * 110; // the virtual list's row height
    list.dispatchEvent(new Event('scroll'));
    await waitFor(() => expect(document.querySelector('tr[data-row="119"][data-key-id]')).not.toBeNull());
    expect(queries.map((q) => q.offset)).toContain(100);
    expect(queries.every((q) => q.limit === 50 && q.offset % 50 === 0)).toBe(true);
  });

  /** With one key listed, creates "New key" through the dialog, up to its secret on screen. */
  async function createUpToTheSecret(user: ReturnType<typeof userEvent.setup>) {
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(1));
    await user.click(byId('create-key-btn'));
    await user.type(byId('key-name-input'), 'New key{Enter}');
    await waitFor(() => expect(byId('secret-dialog')).toBeInTheDocument());
  }

  it('creates a key, shows it once, and lists it after the secret dialog is closed', async () => {
    backend([makeKey({ name: 'Old key' })]);
    const user = userEvent.setup();
    await createUpToTheSecret(user);
    expect(document.getElementById('create-dialog')).toBeNull();
    await user.click(byId('secret-done-btn'));
    await user.click(byId('secret-close-confirm-btn'));
    expect(document.getElementById('secret-dialog')).toBeNull();
    expect(document.body.textContent).not.toContain(TOKEN);
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(rows()[0]).toHaveTextContent('New key');
  });

  it('quits on Ctrl+Q, but with a new key on screen Ctrl+Q and closing the window ask first', async () => {
    const { calls } = backend([makeKey({ name: 'Old key' })]);
    const user = userEvent.setup();
    await createUpToTheSecret(user);

    await waitFor(() => expect(calls).toContain('secret_on_screen'));
    // The window's close button: the backend keeps the window and sends this event instead.
    window.dispatchEvent(new Event('keyward-close-requested'));
    await waitFor(() => expect(byId('secret-close-confirm-btn')).toBeInTheDocument());
    await user.click(byId('secret-close-back-btn'));
    expect(document.getElementById('secret-close-confirm-btn')).toBeNull();

    await user.keyboard('{Control>}q{/Control}');
    expect(byId('secret-close-confirm-btn')).toBeInTheDocument();
    expect(calls).not.toContain('quit_app');
    await user.keyboard('{Control>}{Shift>}q{/Shift}{/Control}');
    expect(calls).not.toContain('quit_app');

    await user.click(byId('secret-close-confirm-btn'));
    expect(document.getElementById('secret-dialog')).toBeNull();
    await user.keyboard('{Control>}q{/Control}');
    await waitFor(() => expect(calls).toContain('quit_app'));
  });

  it('revokes a key after confirmation and shows it as revoked', async () => {
    const key = makeKey({ name: 'Payroll' });
    backend([key]);
    render(App);
    const user = userEvent.setup();
    await waitFor(() => expect(rows()).toHaveLength(1));
    await user.click(rows()[0].querySelector('[data-action="revoke"]') as HTMLElement);
    const dialog = byId('revoke-dialog');
    expect(dialog).toHaveTextContent('Payroll');
    expect(dialog).toHaveTextContent('Anything using this key stops working immediately.');
    await user.click(byId('revoke-confirm-btn'));
    await waitFor(() => expect(rows()[0].querySelector('.status-badge')).toHaveTextContent('Revoked'));
    expect(document.getElementById('revoke-dialog')).toBeNull();
  });

  it('deletes a key after confirmation; a key gone meanwhile refreshes the list', async () => {
    const a = makeKey({ name: 'Alpha' });
    const b = makeKey({ name: 'Beta' });
    const { keys } = backend([a, b], INFO, (cmd, args) => {
      if (cmd === 'delete_keys' && (args.ids as string[])[0] === b.id) {
        keys.splice(keys.indexOf(b), 1);
        throw { kind: 'not_found', message: 'No key with the ID kw_b.' };
      }
      return undefined;
    });
    render(App);
    const user = userEvent.setup();
    await waitFor(() => expect(rows()).toHaveLength(2));

    await user.click(rows()[0].querySelector('[data-action="delete"]') as HTMLElement);
    expect(byId('delete-dialog')).toHaveTextContent('Delete key permanently?');
    await user.click(byId('delete-confirm-btn'));
    await waitFor(() => expect(rows()).toHaveLength(1));

    await user.click(rows()[0].querySelector('[data-action="delete"]') as HTMLElement);
    await user.click(byId('delete-confirm-btn'));
    await waitFor(() => expect(byId('error-banner')).toHaveTextContent('No key with the ID kw_b.'));
    await waitFor(() => expect(byId('empty-state')).toBeInTheDocument());
  });

  it('shows an internal error in a dismissible banner', async () => {
    backend([makeKey()], INFO, (cmd) => {
      if (cmd === 'revoke_keys') throw { kind: 'internal', message: 'Disk on fire.' };
      return undefined;
    });
    render(App);
    const user = userEvent.setup();
    await waitFor(() => expect(rows()).toHaveLength(1));
    await user.click(rows()[0].querySelector('[data-action="revoke"]') as HTMLElement);
    await user.click(byId('revoke-confirm-btn'));
    await waitFor(() => expect(byId('error-banner')).toHaveTextContent('Disk on fire.'));
    await user.click(byId('error-banner-dismiss'));
    expect(document.getElementById('error-banner')).toBeNull();
  });

  it('shows the full-screen error when the database cannot be opened', async () => {
    backend([], { ...INFO, database_error: 'The file is not a database.' });
    render(App);
    const screenEl = await waitFor(() => byId('error-screen'));
    expect(screenEl).toHaveTextContent('The file is not a database.');
    expect(screenEl).toHaveTextContent(INFO.database_path);
    expect(screenEl).toHaveTextContent('KEYWARD_DB');
    expect(screen.queryByRole('table')).toBeNull();
  });

  it('switches to the full-screen error when the database becomes unavailable', async () => {
    backend([], INFO, (cmd) => {
      if (cmd === 'list_keys') throw { kind: 'database_unavailable', message: 'Database is locked.' };
      return undefined;
    });
    render(App);
    await waitFor(() => expect(byId('error-screen')).toHaveTextContent('Database is locked.'));
  });
  it('shows the read-only notice and disables every change on a read-only database', async () => {
    const key = makeKey({ name: 'Payroll' });
    backend([key], { ...INFO, read_only: true }, (cmd) => {
      if (cmd === 'get_key') return key;
      if (cmd === 'key_history') return [];
      return undefined;
    });
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(1));
    const banner = byId('read-only-banner');
    expect(banner).toHaveAttribute('role', 'status');
    expect(banner).toHaveTextContent('Read-only');
    expect(banner).toHaveTextContent(INFO.database_path);
    expect(byId('create-key-btn')).toBeDisabled();
    expect(byId('create-key-btn')).toHaveAttribute('title', expect.stringMatching(/read-only/));
    expect(rows()[0].querySelector('[data-action="revoke"]')).toBeDisabled();
    expect(rows()[0].querySelector('[data-action="delete"]')).toBeDisabled();
    // Looking still works: search and details.
    expect(byId('search-input')).toBeEnabled();
    const user = userEvent.setup();
    await user.click(rows()[0].querySelector('.key-name-link') as HTMLElement);
    await waitFor(() => expect(byId('edit-key-btn')).toBeDisabled());

    await user.click(byId('close-details-btn'));
    await user.click(byId('nav-owners'));
    await waitFor(() => expect(byId('create-owner-btn')).toBeDisabled());
    expect(byId('read-only-banner')).toBeInTheDocument();
    await user.click(byId('nav-settings'));
    await waitFor(() => expect(byId('save-settings-btn')).toBeDisabled());
    expect(byId('setting-key-prefix')).toBeDisabled();
  });

  it('a writable database shows no read-only notice', async () => {
    backend([makeKey()]);
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(document.getElementById('read-only-banner')).toBeNull();
    expect(byId('create-key-btn')).toBeEnabled();
  });

  it('switches into read-only mode when a change is refused as read-only', async () => {
    const message =
      'This key database is read-only (/tmp/k.db), so nothing can be changed. Open a writable copy to make changes.';
    backend([makeKey({ name: 'Payroll' })], INFO, (cmd) => {
      if (cmd === 'revoke_keys') throw { kind: 'read_only', message };
      return undefined;
    });
    render(App);
    const user = userEvent.setup();
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(byId('create-key-btn')).toBeEnabled();
    await user.click(rows()[0].querySelector('[data-action="revoke"]') as HTMLElement);
    await user.click(byId('revoke-confirm-btn'));
    await waitFor(() => expect(byId('error-banner')).toHaveTextContent(message));
    expect(byId('read-only-banner')).toHaveTextContent(INFO.database_path);
    expect(byId('create-key-btn')).toBeDisabled();
    expect(rows()[0].querySelector('[data-action="revoke"]')).toBeDisabled();
    expect(document.getElementById('revoke-dialog')).toBeNull();
    expect(rows()[0].querySelector('.status-badge')).toHaveTextContent('Active');
  });
});
