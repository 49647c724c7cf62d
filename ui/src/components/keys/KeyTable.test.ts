// The key list (KeyTable in the Keys screen): only the rows near the screen are in the DOM,
// fetched by page; focus moves between rows with the keyboard; a search's total may be a lower
// bound ("1,000+ keys") that grows as the list is scrolled.

import { render, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { live } from '../../lib/live.svelte';
import { INFO } from '../../test/fixtures';
import {
  backend,
  byId,
  manyKeys,
  owner,
  placeholders,
  row,
  ROW_HEIGHT,
  rows,
  scrollTo,
} from './keysTestBackend';
import KeysView from './KeysView.svelte';

describe('the key list, as a virtual list', () => {
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

  describe('with a search that matches more keys than are counted', () => {
    const EXPLANATION =
      'More than 1,000 keys match; the exact number is not counted while searching. Scroll on to see more.';

    /** 2,500 keys, searched for a word all of them hold: the core counts 1,000 at a time. */
    async function searched() {
      const { queries } = backend(manyKeys(2_500));
      render(KeysView, { props: { info: INFO } });
      await waitFor(() => expect(byId('key-count')).toHaveTextContent('2,500 keys'));
      const user = userEvent.setup();
      await user.type(byId('search-input'), 'key{Enter}');
      await waitFor(() => expect(queries.at(-1)).toMatchObject({ search: 'key', offset: 0 }));
      await waitFor(() => expect(byId('key-count')).toHaveTextContent(/^1,000\+ keys/));
      return { queries, user };
    }

    it('says "1,000+ keys", and why, to the pointer and to screen readers', async () => {
      await searched();
      const count = byId('key-count');
      expect(count).toHaveAttribute('title', EXPLANATION);
      expect(count.querySelector('.visually-hidden')).toHaveTextContent(EXPLANATION);
      // The number of rows is not known: -1, not the lower bound.
      expect(document.querySelector('table')).toHaveAttribute('aria-rowcount', '-1');
    });

    it('grows without moving when scrolled to the end of the rows known', async () => {
      const { queries } = await searched();
      const list = scrollTo(0);
      await waitFor(() => expect(row(0)).toHaveTextContent('Key #0'));
      // The rows known end at 1,000: the scroll area stands for exactly those.
      const bottomSpacer = () => [...document.querySelectorAll<HTMLElement>('tr.spacer td')].at(-1);
      expect(bottomSpacer()?.style.height).toBe(`${(1_000 - 20) * ROW_HEIGHT}px`);

      scrollTo(990);
      await waitFor(() => expect(byId('key-count')).toHaveTextContent(/^2,000\+ keys/));
      expect(byId('key-count')).toHaveAttribute('title', EXPLANATION.replace('1,000', '2,000'));
      // The page after the rows known was asked for, and the rows on screen stayed where they were.
      expect(queries.map((q) => q.offset)).toContain(1_000);
      expect(list.scrollTop).toBe(990 * ROW_HEIGHT);
      await waitFor(() => expect(row(999)).toHaveTextContent('Key #999'));
      await waitFor(() => expect(row(1_005)).toHaveTextContent('Key #1005'));
      expect(document.querySelector('table')).toHaveAttribute('aria-rowcount', '-1');

      // Near the end of those, the next answer counts every match: exact again.
      scrollTo(1_990);
      await waitFor(() => expect(byId('key-count')).toHaveTextContent(/^2,500 keys$/));
      expect(byId('key-count')).not.toHaveAttribute('title');
      expect(byId('key-count').querySelector('.visually-hidden')).toBeNull();
      expect(document.querySelector('table')).toHaveAttribute('aria-rowcount', '2501');
      expect(list.scrollTop).toBe(1_990 * ROW_HEIGHT);
    });

    it('End goes to the last row known, which asks for more; End again goes on', async () => {
      const { user } = await searched();
      scrollTo(0);
      await waitFor(() => expect(row(0)).toHaveTextContent('Key #0'));
      (row(0)?.querySelector('button.key-name-link') as HTMLElement).focus();
      await user.keyboard('{End}');
      await waitFor(() => expect(document.activeElement).toBe(row(999)?.querySelector('button.key-name-link')));
      await waitFor(() => expect(byId('key-count')).toHaveTextContent(/^2,000\+ keys/));
      await user.keyboard('{End}');
      await waitFor(() => expect(document.activeElement).toBe(row(1_999)?.querySelector('button.key-name-link')));
      await waitFor(() => expect(byId('key-count')).toHaveTextContent(/^2,500 keys$/));
      await user.keyboard('{End}');
      await waitFor(() => expect(document.activeElement).toBe(row(2_499)?.querySelector('button.key-name-link')));
    });

    it('keeps the larger bound when the first page, read again after a change, counts less', async () => {
      const { queries } = await searched();
      scrollTo(990);
      await waitFor(() => expect(byId('key-count')).toHaveTextContent(/^2,000\+ keys/));
      scrollTo(0);
      await waitFor(() => expect(row(0)).toHaveTextContent('Key #0'));
      const before = queries.length;
      live.changes += 1;
      await waitFor(() => expect(queries.slice(before).map((q) => q.offset)).toContain(0));
      await waitFor(() => expect(row(0)).toHaveTextContent('Key #0'));
      expect(byId('key-count')).toHaveTextContent(/^2,000\+ keys/);
    });

    it('starts again from the new count for a new search', async () => {
      const { user } = await searched();
      scrollTo(990);
      await waitFor(() => expect(byId('key-count')).toHaveTextContent(/^2,000\+ keys/));
      await user.clear(byId('search-input'));
      await user.type(byId('search-input'), 'key #12{Enter}');
      // "Key #12", "Key #120"–"Key #129" and "Key #1200"–"Key #1299": counted exactly.
      await waitFor(() => expect(byId('key-count')).toHaveTextContent(/^111 keys$/));
      expect(document.querySelector('table')).toHaveAttribute('aria-rowcount', '112');
    });
  });
});
