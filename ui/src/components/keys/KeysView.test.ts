import { mockIPC } from '@tauri-apps/api/mocks';
import { render, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../bindings/AuditEvent';
import type { KeySummary } from '../../bindings/KeySummary';
import type { KeyUpdate } from '../../bindings/KeyUpdate';
import type { ListQuery } from '../../bindings/ListQuery';
import type { Owner } from '../../bindings/Owner';
import { INFO, makeKey, UNLIMITED } from '../../test/fixtures';
import KeysView from '../KeysView.svelte';

const SOON = new Date(Date.now() + 3 * 86_400_000).toISOString();
const LATER = new Date(Date.now() + 60 * 86_400_000).toISOString();

function backend(initial: KeySummary[], owners: Owner[] = []) {
  const keys = [...initial];
  const queries: ListQuery[] = [];
  // While set, list_keys answers only once it resolves: shows what the list does meanwhile.
  const gate: { held: Promise<void> | null } = { held: null };
  const calls: [string, Record<string, unknown>][] = [];
  const history: AuditEvent[] = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push([cmd, args]);
    switch (cmd) {
      case 'list_keys': {
        const query = args.query as ListQuery;
        queries.push(query);
        const answer = () => {
          const matching = keys.filter((k) => query.owner === null || k.owner === query.owner);
          const page = matching.slice(query.offset, query.offset + query.limit);
          return { keys: structuredClone(page), total: matching.length, offset: query.offset };
        };
        return gate.held ? gate.held.then(answer) : answer();
      }
      case 'list_owners':
        return owners;
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
      case 'get_key':
        return keys.find((k) => k.id === args.id);
      case 'check_name': {
        // Stands in for the core's check_name (tested in Rust): it stores names with runs of
        // spaces as one and the ends trimmed, and refuses a blank one.
        const stored = (args.name as string).trim().replace(/\s+/g, ' ');
        const problem = stored === '' ? 'Give the key a name.' : null;
        return { problem, name: stored, length: [...stored].length, max: 50 };
      }
      case 'key_history':
        return history;
      case 'update_key': {
        const key = keys.find((k) => k.id === args.id) as KeySummary;
        const update = args.update as KeyUpdate;
        if (update.owner !== null) {
          history.push({
            seq: 2,
            at: '2025-03-05T10:00:00Z',
            actor: 'root',
            action: 'key_updated',
            key_id: key.id,
            details: JSON.stringify({ owner: { from: key.owner, to: update.owner } }),
          });
          key.owner = update.owner;
        }
        if (update.name !== null) key.name = update.name;
        return key;
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
  history.push({
    seq: 1,
    at: '2025-03-04T10:20:00Z',
    actor: 'root',
    action: 'key_created',
    key_id: initial[0]?.id ?? null,
    details: '{"owner":"Alice"}',
  });
  return { keys, queries, calls, gate };
}

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}
const rows = () => [...document.querySelectorAll<HTMLElement>('tbody tr[data-key-id]')];
const placeholders = () => document.querySelectorAll('tbody tr.loading-row');
const row = (index: number) => document.querySelector<HTMLElement>(`tr[data-key-id][data-row="${index}"]`);
const ROW_HEIGHT = 52;

/** The list's scroll container, given a height (a test DOM has no layout), scrolled to `row`. */
function scrollTo(index: number, height = 520): HTMLElement {
  const list = document.querySelector('.table-wrap') as HTMLElement;
  Object.defineProperty(list, 'clientHeight', { configurable: true, value: height });
  list.scrollTop = index * ROW_HEIGHT;
  list.dispatchEvent(new Event('scroll'));
  return list;
}

const manyKeys = (count: number) => Array.from({ length: count }, (_, i) => makeKey({ name: `Key #${i}` }));
const owner = (name: string, active_keys: number): Owner => ({
  name,
  created_at: '2025-03-04T10:20:00Z',
  active_keys,
  total_keys: active_keys,
});

describe('KeysView', () => {
  it('shows owner and role, badges keys that expire soon, and sorts in the backend', async () => {
    const { queries } = backend([
      makeKey({ name: 'Soon', owner: 'Alice', role: 'admin', expires_at: SOON }),
      makeKey({ name: 'Later', owner: 'Bob', expires_at: LATER }),
    ]);
    render(KeysView, { props: { info: INFO } });
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(rows()[0]).toHaveTextContent('Alice');
    expect(rows()[0]).toHaveTextContent('Admin');
    expect(rows()[0].querySelector('.expires-soon-badge')).toHaveTextContent('Expires soon');
    expect(rows()[1].querySelector('.expires-soon-badge')).toBeNull();

    const user = userEvent.setup();
    const nameHeader = document.querySelector('th button[data-sort="name"]') as HTMLElement;
    await user.click(nameHeader);
    await waitFor(() => expect(queries.at(-1)).toMatchObject({ sort: 'name', descending: false }));
    expect(nameHeader.closest('th')).toHaveAttribute('aria-sort', 'ascending');
    await user.click(nameHeader);
    await waitFor(() => expect(queries.at(-1)).toMatchObject({ sort: 'name', descending: true }));
    expect(nameHeader.closest('th')).toHaveAttribute('aria-sort', 'descending');
  });

  it('sorts by usage from the toolbar, most used first, then least used first', async () => {
    const { queries } = backend([makeKey({ name: 'A' }), makeKey({ name: 'B' })]);
    render(KeysView, { props: { info: INFO } });
    await waitFor(() => expect(rows()).toHaveLength(2));
    const user = userEvent.setup();
    const usage = byId('sort-usage-btn');
    expect(usage).toHaveAttribute('aria-pressed', 'false');
    expect(usage).toHaveTextContent('Sort by usage');

    await user.click(usage);
    await waitFor(() => expect(queries.at(-1)).toMatchObject({ sort: 'usage', descending: true }));
    expect(usage).toHaveAttribute('aria-pressed', 'true');
    expect(usage).toHaveTextContent('Most used first');
    // No column header claims the sort meanwhile.
    for (const th of document.querySelectorAll('thead th[aria-sort]')) {
      expect(th).toHaveAttribute('aria-sort', 'none');
    }

    await user.click(usage);
    await waitFor(() => expect(queries.at(-1)).toMatchObject({ sort: 'usage', descending: false }));
    expect(usage).toHaveTextContent('Least used first');

    await user.click(document.querySelector('th button[data-sort="name"]') as HTMLElement);
    await waitFor(() => expect(queries.at(-1)).toMatchObject({ sort: 'name', descending: false }));
    expect(usage).toHaveAttribute('aria-pressed', 'false');
    expect(usage).toHaveTextContent('Sort by usage');
  });

  it('filters by owner, role and expiring soon, and shows the owner usage', async () => {
    const { queries } = backend([makeKey({ owner: 'Alice' })], [owner('Alice', 3)]);
    render(KeysView, { props: { info: INFO } });
    await waitFor(() => expect(rows()).toHaveLength(1));
    const user = userEvent.setup();
    await waitFor(() => expect(byId('owner-filter').querySelectorAll('option')).toHaveLength(2));
    await user.selectOptions(byId('owner-filter'), 'Alice');
    expect(byId('owner-usage-counter')).toHaveTextContent('Alice: 3 / 5 active');
    await user.selectOptions(byId('role-filter'), 'project');
    await user.click(byId('expiring-soon-filter'));
    await waitFor(() =>
      expect(queries.at(-1)).toMatchObject({
        owner: 'Alice',
        role: 'project',
        expiring_within_days: 7,
      }),
    );
  });

  it('bulk revoke lists exactly which keys stop working and which are already revoked', async () => {
    const a = makeKey({ name: 'Alpha' });
    const b = makeKey({ name: 'Beta', status: 'revoked' });
    const c = makeKey({ name: 'Gamma', status: 'expired' });
    const { calls } = backend([a, b, c]);
    render(KeysView, { props: { info: INFO } });
    await waitFor(() => expect(rows()).toHaveLength(3));
    const user = userEvent.setup();
    expect(document.getElementById('bulk-bar')).toBeNull();
    await user.click(byId('select-all'));
    expect(byId('bulk-bar')).toHaveTextContent('3 selected');
    await user.click(byId('bulk-revoke-btn'));
    const dialog = byId('bulk-revoke-dialog');
    const willStop = [...dialog.querySelectorAll('li.will-stop')];
    expect(willStop.map((li) => li.textContent)).toEqual([
      expect.stringContaining('Alpha'),
      expect.stringContaining('Gamma'),
    ]);
    expect(willStop[0]).toHaveTextContent(a.masked);
    const already = [...dialog.querySelectorAll('li.already-revoked')];
    expect(already).toHaveLength(1);
    expect(already[0]).toHaveTextContent('Beta');
    expect(already[0]).toHaveTextContent('already revoked — nothing changes');
    expect(byId('bulk-revoke-confirm-btn')).toHaveTextContent('Revoke 2 keys');
    await user.click(byId('bulk-revoke-confirm-btn'));
    await waitFor(() => expect(document.getElementById('bulk-revoke-dialog')).toBeNull());
    expect(calls.find(([cmd]) => cmd === 'revoke_keys')?.[1]).toEqual({ ids: [a.id, c.id] });
    await waitFor(() => expect(document.getElementById('bulk-bar')).toBeNull());
    await waitFor(() =>
      expect(rows().map((r) => r.querySelector('.status-badge')?.textContent)).toEqual([
        'Revoked',
        'Revoked',
        'Revoked',
      ]),
    );
  });

  it('bulk delete lists every key and deletes them all at once', async () => {
    const a = makeKey({ name: 'Alpha' });
    const b = makeKey({ name: 'Beta' });
    const c = makeKey({ name: 'Gamma' });
    backend([a, b, c]);
    render(KeysView, { props: { info: INFO } });
    await waitFor(() => expect(rows()).toHaveLength(3));
    const user = userEvent.setup();
    await user.click(rows()[0].querySelector('input.row-select') as HTMLElement);
    await user.click(rows()[2].querySelector('input.row-select') as HTMLElement);
    expect(byId('bulk-bar')).toHaveTextContent('2 selected');
    await user.click(byId('bulk-delete-btn'));
    const items = [...byId('bulk-delete-dialog').querySelectorAll('li.will-delete')];
    expect(items.map((li) => li.querySelector('.key-name')?.textContent)).toEqual(['Alpha', 'Gamma']);
    await user.click(byId('bulk-delete-confirm-btn'));
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(rows()[0]).toHaveTextContent('Beta');
    expect(document.getElementById('bulk-bar')).toBeNull();
  });

  it('opens the details panel with history and saves only changed fields', async () => {
    const key = makeKey({ name: 'Payroll', owner: 'Alice', scopes: ['read'] });
    const { calls } = backend([key], [owner('Alice', 1), owner('Bob', 0)]);
    render(KeysView, { props: { info: INFO } });
    await waitFor(() => expect(rows()).toHaveLength(1));
    const user = userEvent.setup();
    await user.click(rows()[0].querySelector('button.key-name-link') as HTMLElement);
    const panel = await waitFor(() => byId('key-details'));
    await waitFor(() => expect(within(panel).getByText('Created by root')).toBeInTheDocument());
    expect(panel).toHaveTextContent(key.masked);
    await user.click(byId('edit-key-btn'));
    await waitFor(() => expect(byId('edit-name-input')).toHaveValue('Payroll'));
    await user.selectOptions(byId('edit-owner-select'), 'Bob');
    await user.click(byId('save-key-btn'));
    await waitFor(() => expect(byId('edit-key-btn')).toBeInTheDocument());
    expect(calls.find(([cmd]) => cmd === 'update_key')?.[1]).toEqual({
      id: key.id,
      update: {
        name: null,
        owner: 'Bob',
        role: null,
        scopes: null,
        track_usage: null,
        expiry: null,
        override_limit: false,
        plan: null,
      },
    });
    const items = [...byId('key-history').querySelectorAll('li')];
    expect(items[0]).toHaveTextContent('Updated: owner Alice → Bob');
    expect(items[1]).toHaveTextContent('Created by root');
    await user.keyboard('{Escape}');
    expect(document.getElementById('key-details')).toBeNull();
  });

  it('asks the core about an edited name and saves it only when its stored form changed', async () => {
    const key = makeKey({ name: 'Payroll', owner: 'Alice' });
    const { calls } = backend([key], [owner('Alice', 1)]);
    render(KeysView, { props: { info: INFO } });
    await waitFor(() => expect(rows()).toHaveLength(1));
    const user = userEvent.setup();
    await user.click(rows()[0].querySelector('button.key-name-link') as HTMLElement);
    await waitFor(() => byId('edit-key-btn'));
    await user.click(byId('edit-key-btn'));
    const input = await waitFor(() => byId('edit-name-input'));
    await user.clear(input);
    await waitFor(() => expect(byId('edit-name-error')).toHaveTextContent('Give the key a name.'));
    expect(byId('save-key-btn')).toBeDisabled();
    expect(input).toHaveAttribute('aria-invalid', 'true');

    // The same name with extra spaces is stored as "Payroll": nothing to save.
    await user.type(input, '  Payroll  ');
    await waitFor(() => expect(document.getElementById('edit-name-error')).toBeNull());
    await user.click(byId('save-key-btn'));
    await waitFor(() => expect(byId('edit-key-btn')).toBeInTheDocument());
    expect(calls.some(([cmd]) => cmd === 'update_key')).toBe(false);

    await user.click(byId('edit-key-btn'));
    await waitFor(() => expect(byId('edit-name-input')).toHaveValue('Payroll'));
    await user.type(byId('edit-name-input'), '   run');
    await user.click(byId('save-key-btn'));
    await waitFor(() => expect(byId('edit-key-btn')).toBeInTheDocument());
    expect(calls.find(([cmd]) => cmd === 'update_key')?.[1]).toMatchObject({
      update: { name: 'Payroll run', owner: null },
    });
    expect(calls.filter(([cmd]) => cmd === 'check_name').map(([, args]) => args.name)).toContain(
      'Payroll   run',
    );
  });

  it('shows a revoked key read-only', async () => {
    backend([makeKey({ name: 'Old', status: 'revoked', revoked_at: '2025-03-05T00:00:00Z' })]);
    render(KeysView, { props: { info: INFO } });
    await waitFor(() => expect(rows()).toHaveLength(1));
    const user = userEvent.setup();
    await user.click(rows()[0].querySelector('button.key-name-link') as HTMLElement);
    await waitFor(() => expect(byId('read-only-notice')).toBeInTheDocument());
    expect(document.getElementById('edit-key-btn')).toBeNull();
    await user.click(byId('close-details-btn'));
    expect(document.getElementById('key-details')).toBeNull();
  });

  describe('as a virtual list', () => {
    it('renders only the rows around the viewport, fetched by page as it scrolls', async () => {
      const { queries } = backend(manyKeys(1000));
      render(KeysView, { props: { info: INFO } });
      await waitFor(() => expect(byId('key-count')).toHaveTextContent('1,000 keys'));
      scrollTo(0);
      // 10 rows on screen and a screenful either side (none above the first row).
      await waitFor(() => expect(rows()).toHaveLength(20));
      expect(document.querySelector('table')).toHaveAttribute('aria-rowcount', '1001');

      scrollTo(500);
      await waitFor(() => expect(row(500)).toHaveTextContent('Key #500'));
      expect(row(500)).toHaveAttribute('aria-rowindex', '502');
      await waitFor(() => expect(rows()).toHaveLength(30));
      expect(rows()[0]).toHaveAttribute('data-row', '490');
      // Spacers stand in for the other 970 rows, so the scrollbar is right.
      const spacers = [...document.querySelectorAll<HTMLElement>('tr.spacer td')];
      expect(spacers.map((td) => td.style.height)).toEqual([`${490 * ROW_HEIGHT}px`, `${480 * ROW_HEIGHT}px`]);
      expect(queries.every((q) => q.limit === 50 && q.offset % 50 === 0)).toBe(true);
      expect(queries.map((q) => q.offset)).toContain(450);
      expect(queries.map((q) => q.offset)).not.toContain(250); // nothing between was fetched
    });

    it('shows placeholder rows while a page loads, then fills them in', async () => {
      const { gate } = backend(manyKeys(1000));
      render(KeysView, { props: { info: INFO } });
      await waitFor(() => expect(rows().length).toBeGreaterThan(0));
      let release = () => {};
      gate.held = new Promise((resolve) => (release = resolve));
      scrollTo(990);
      await waitFor(() => expect(placeholders()).toHaveLength(20));
      expect(rows()).toHaveLength(0);
      gate.held = null;
      release();
      await waitFor(() => expect(row(999)).toHaveTextContent('Key #999'));
      expect(placeholders()).toHaveLength(0);
    });

    it('keeps a bounded number of pages, fetching evicted ones again', async () => {
      const { queries } = backend(manyKeys(1000));
      render(KeysView, { props: { info: INFO } });
      await waitFor(() => expect(rows().length).toBeGreaterThan(0));
      for (let page = 1; page <= 13; page += 1) {
        scrollTo(page * 50 + 20);
        await waitFor(() => expect(row(page * 50 + 20)).not.toBeNull());
      }
      const firstPageFetches = queries.filter((q) => q.offset === 0).length;
      scrollTo(0);
      await waitFor(() => expect(row(0)).toHaveTextContent('Key #0'));
      expect(queries.filter((q) => q.offset === 0)).toHaveLength(firstPageFetches + 1);
    });

    it('keeps the selection while scrolling; the header box selects the keys on screen', async () => {
      backend(manyKeys(1000));
      render(KeysView, { props: { info: INFO } });
      await waitFor(() => expect(rows().length).toBeGreaterThan(0));
      scrollTo(0);
      const user = userEvent.setup();
      await user.click(row(1)?.querySelector('input.row-select') as HTMLElement);
      scrollTo(700);
      await waitFor(() => expect(row(700)).not.toBeNull());
      expect(byId('select-all')).toHaveAccessibleName('Select the keys on screen');
      expect(byId('select-all')).not.toBeChecked();
      await user.click(byId('select-all'));
      expect(byId('bulk-bar')).toHaveTextContent('11 selected');
      expect(row(705)?.querySelector('input.row-select')).toBeChecked();
      expect(row(712)?.querySelector('input.row-select')).not.toBeChecked(); // below the screen
      scrollTo(0);
      await waitFor(() => expect(row(1)?.querySelector('input.row-select')).toBeChecked());
      expect(byId('select-all')).toHaveProperty('indeterminate', true);
    });

    it('stays where it was after revoking a key far down the list', async () => {
      const { queries } = backend(manyKeys(1000));
      render(KeysView, { props: { info: INFO } });
      await waitFor(() => expect(rows().length).toBeGreaterThan(0));
      const list = scrollTo(600);
      await waitFor(() => expect(row(603)).toHaveTextContent('Key #603'));
      const user = userEvent.setup();
      await user.click(row(603)?.querySelector('[data-action="revoke"]') as HTMLElement);
      const before = queries.length;
      await user.click(byId('revoke-confirm-btn'));
      await waitFor(() => expect(row(603)?.querySelector('.status-badge')).toHaveTextContent('Revoked'));
      expect(list.scrollTop).toBe(600 * ROW_HEIGHT);
      expect(queries.slice(before).map((q) => q.offset)).not.toContain(0);
    });

    it('starts at the top for a new filter, with the new total', async () => {
      const keys = manyKeys(1000).map((k, i) => ({ ...k, owner: i % 4 === 0 ? 'Alice' : 'Bob' }));
      const { queries } = backend(keys, [owner('Alice', 250), owner('Bob', 750)]);
      render(KeysView, { props: { info: INFO } });
      await waitFor(() => expect(byId('owner-filter').querySelectorAll('option')).toHaveLength(3));
      const list = scrollTo(800);
      await waitFor(() => expect(row(800)).not.toBeNull());
      await userEvent.setup().selectOptions(byId('owner-filter'), 'Alice');
      await waitFor(() => expect(byId('key-count')).toHaveTextContent('250 keys'));
      expect(queries.at(-1)).toMatchObject({ owner: 'Alice', offset: 0 });
      expect(list.scrollTop).toBe(0);
      await waitFor(() => expect(row(1)).toHaveTextContent('Key #4'));
      expect(document.querySelector('table')).toHaveAttribute('aria-rowcount', '251');
    });

    it('moves between rows with the arrow keys, Home and End', async () => {
      backend(manyKeys(1000));
      render(KeysView, { props: { info: INFO } });
      await waitFor(() => expect(rows().length).toBeGreaterThan(0));
      const list = scrollTo(0);
      const user = userEvent.setup();
      (row(0)?.querySelector('button.key-name-link') as HTMLElement).focus();
      await user.keyboard('{ArrowDown}{ArrowDown}');
      expect(document.activeElement).toBe(row(2)?.querySelector('button.key-name-link'));
      (row(2)?.querySelector('input.row-select') as HTMLElement).focus();
      await user.keyboard('{ArrowUp}');
      expect(document.activeElement).toBe(row(1)?.querySelector('input.row-select'));
      await user.keyboard('{End}');
      await waitFor(() => expect(document.activeElement).toBe(row(999)?.querySelector('input.row-select')));
      expect(list.scrollTop).toBe(1000 * ROW_HEIGHT - 520);
      await user.keyboard('{Home}');
      await waitFor(() => expect(document.activeElement).toBe(row(0)?.querySelector('input.row-select')));
      expect(list.scrollTop).toBe(0);
    });
  });
});
