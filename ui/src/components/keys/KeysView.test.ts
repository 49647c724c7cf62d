// The Keys screen: columns, sorting, filters, bulk changes and the details panel. The virtual
// list itself (scrolling, paging, the keyboard, capped totals) is in KeyTable.test.ts.

import { render, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { INFO, makeKey } from '../../test/fixtures';
import { backend, byId, owner, rows } from './keysTestBackend';
import KeysView from './KeysView.svelte';

const SOON = new Date(Date.now() + 3 * 86_400_000).toISOString();
const LATER = new Date(Date.now() + 60 * 86_400_000).toISOString();

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
});
