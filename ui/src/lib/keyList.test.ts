import { mockIPC } from '@tauri-apps/api/mocks';
import { describe, expect, it } from 'vitest';
import type { ListQuery } from '../bindings/ListQuery';
import { makeKey } from '../test/fixtures';
import { countExplanation, countLabel, KeyList, mergeTotal, wantedPages } from './keyList.svelte';

const exact = (total: number) => ({ total, total_exact: true });
const atLeast = (total: number) => ({ total, total_exact: false });

describe('mergeTotal', () => {
  it('takes a new query’s first count as it is', () => {
    expect(mergeTotal(atLeast(3_000), exact(12), true)).toEqual(exact(12));
    expect(mergeTotal(exact(12), atLeast(1_000), true)).toEqual(atLeast(1_000));
  });

  it('takes an exact count, smaller or larger', () => {
    expect(mergeTotal(atLeast(2_000), exact(1_500), false)).toEqual(exact(1_500));
    expect(mergeTotal(exact(40), exact(39), false)).toEqual(exact(39));
  });

  it('only ever raises a lower bound', () => {
    expect(mergeTotal(atLeast(1_000), atLeast(2_000), false)).toEqual(atLeast(2_000));
    expect(mergeTotal(atLeast(2_000), atLeast(1_000), false)).toEqual(atLeast(2_000));
  });

  it('keeps an exact count that a lower bound agrees with, and drops one it refutes', () => {
    expect(mergeTotal(exact(1_500), atLeast(1_000), false)).toEqual(exact(1_500));
    expect(mergeTotal(exact(800), atLeast(1_000), false)).toEqual(atLeast(1_000));
  });
});

describe('wantedPages', () => {
  const range = (start: number, end: number) => ({ start, end });

  it('asks for the first page while there is no count', () => {
    expect(wantedPages(range(0, 0), range(0, 0), exact(0), 50)).toEqual([0]);
  });

  it('lists the pages on screen first, then the rest of the rendered rows, once each', () => {
    expect(wantedPages(range(500, 510), range(490, 520), exact(1_000), 50)).toEqual([10, 9]);
    expect(wantedPages(range(990, 1_000), range(980, 1_000), exact(1_000), 50)).toEqual([19]);
  });

  it('asks for the page after the rows known when they end on screen and there are more', () => {
    expect(wantedPages(range(990, 1_000), range(980, 1_000), atLeast(1_000), 50)).toEqual([19, 20]);
    // Not while the end of them is still far off.
    expect(wantedPages(range(500, 510), range(490, 520), atLeast(1_000), 50)).toEqual([10, 9]);
  });
});

describe('the count', () => {
  it('reads as today when exact, with a "+" when a lower bound', () => {
    expect(countLabel(exact(1))).toBe('1 key');
    expect(countLabel(exact(100_000))).toBe('100,000 keys');
    expect(countLabel(atLeast(1_000))).toBe('1,000+ keys');
    expect(countExplanation(atLeast(2_000))).toBe(
      'More than 2,000 keys match; the exact number is not counted while searching. Scroll on to see more.',
    );
  });
});

describe('KeyList', () => {
  /** A backend with `count` keys; `search` queries are counted a thousand at a time. */
  function backend(count: number) {
    const keys = Array.from({ length: count }, (_, i) => makeKey({ name: `Key #${i}` }));
    const asked: ListQuery[] = [];
    const pending: (() => void)[] = [];
    mockIPC((cmd, raw) => {
      if (cmd !== 'list_keys') return null;
      const query = (raw as { query: ListQuery }).query;
      asked.push(query);
      const cap = (Math.floor((query.offset + query.limit) / 1000) + 1) * 1000;
      const capped = query.search !== null && count > cap;
      const page = {
        keys: keys.slice(query.offset, query.offset + query.limit),
        total: capped ? cap : count,
        total_exact: !capped,
        offset: query.offset,
      };
      return new Promise((resolve) => pending.push(() => resolve(page)));
    });
    /** Answers every request asked so far, and waits for the list to take them in. */
    const answer = async () => {
      for (const release of pending.splice(0)) release();
      await new Promise((resolve) => setTimeout(resolve, 0));
    };
    return { asked, answer };
  }

  function list(search: string | null, wanted: () => number[]) {
    return new KeyList({
      query: (offset, limit) => ({
        search,
        status: null,
        owner: null,
        role: null,
        expiring_within_days: null,
        sort: 'created',
        descending: true,
        offset,
        limit,
      }),
      wanted,
      onrows: () => undefined,
    });
  }

  it('takes the first page answered at start-up instead of asking for it', async () => {
    const { asked, answer } = backend(120);
    const keys = list(null, () => [0, 1]);
    const first = Array.from({ length: 50 }, (_, i) => makeKey({ name: `Seeded #${i}` }));
    keys.seed({ keys: first, total: 120, total_exact: true, offset: 0 });
    await keys.firstPage;
    expect([keys.loaded, keys.total, keys.row(0)?.name]).toEqual([true, 120, 'Seeded #0']);
    keys.fetch([0, 1]);
    await answer();
    expect(asked.map((q) => q.offset)).toEqual([50]);
    // Once loaded, a late start-up answer changes nothing.
    keys.seed({ keys: [], total: 0, total_exact: true, offset: 0 });
    expect([keys.total, keys.row(0)?.name]).toEqual([120, 'Seeded #0']);
  });

  it('asks for at most three pages at once, then for what is still wanted', async () => {
    const { asked, answer } = backend(1_000);
    const keys = list(null, () => [0, 1, 2, 3, 4]);
    keys.fetch([0, 1, 2, 3, 4]);
    expect(asked.map((q) => q.offset)).toEqual([0, 50, 100]);
    await answer();
    expect(asked.map((q) => q.offset)).toEqual([0, 50, 100, 150, 200]);
    await answer();
    expect([keys.total, keys.totalExact, keys.loaded]).toEqual([1_000, true, true]);
    expect(keys.row(201)?.name).toBe('Key #201');
  });

  it('drops answers to requests made before a restart', async () => {
    const { asked, answer } = backend(1_000);
    const keys = list(null, () => [0]);
    keys.fetch([0]);
    keys.restart(true);
    expect(asked).toHaveLength(2);
    expect(keys.loading).toBe(true);
    await answer();
    expect(keys.loading).toBe(false);
    expect(keys.row(0)?.name).toBe('Key #0');
  });

  it('raises a searched count as pages further down arrive', async () => {
    const { answer } = backend(2_500);
    let wanted = [0];
    const keys = list('key', () => wanted);
    keys.fetch(wanted);
    await answer();
    expect([keys.total, keys.totalExact]).toEqual([1_000, false]);
    wanted = [19, 20];
    keys.fetch(wanted);
    await answer();
    expect([keys.total, keys.totalExact]).toEqual([2_000, false]);
    wanted = [49];
    keys.fetch(wanted);
    await answer();
    expect([keys.total, keys.totalExact]).toEqual([2_500, true]);
  });
});
