import { describe, expect, it } from 'vitest';
import { PageCache, pagesOf, rowWindow, scrollToShow } from './virtual';

describe('rowWindow', () => {
  // 100,000 rows of 52 px in a 520 px viewport: 10 rows on screen.
  const rows = (scrollTop: number, overscan = 0, total = 100_000) =>
    rowWindow(scrollTop, 520, 52, total, overscan);

  it('covers the rows on screen, with a part-visible row at the bottom', () => {
    expect(rows(0)).toEqual({ start: 0, end: 10 });
    expect(rows(26)).toEqual({ start: 0, end: 11 });
    expect(rows(52 * 500)).toEqual({ start: 500, end: 510 });
  });

  it('adds the margin either side, within the list', () => {
    expect(rows(0, 10)).toEqual({ start: 0, end: 20 });
    expect(rows(52 * 500, 10)).toEqual({ start: 490, end: 520 });
    expect(rows(52 * 100_000, 10)).toEqual({ start: 99_980, end: 100_000 });
  });

  it('shows the last screenful when scrolled past the end of a list that shrank', () => {
    expect(rows(52 * 90_000, 0, 1_000)).toEqual({ start: 990, end: 1_000 });
    expect(rows(52 * 90_000, 0, 3)).toEqual({ start: 0, end: 3 });
  });

  it('renders nothing for an empty list', () => {
    expect(rows(0, 10, 0)).toEqual({ start: 0, end: 0 });
  });

  it('keeps the window small however many rows there are', () => {
    for (const scrollTop of [0, 1_234_567, 52 * 99_990]) {
      const { start, end } = rows(scrollTop, 10);
      expect(end - start).toBeLessThanOrEqual(31);
    }
  });
});

describe('pagesOf', () => {
  it('lists the pages that hold any row of the range', () => {
    expect(pagesOf({ start: 0, end: 50 }, 50)).toEqual([0]);
    expect(pagesOf({ start: 40, end: 60 }, 50)).toEqual([0, 1]);
    expect(pagesOf({ start: 99_980, end: 100_000 }, 50)).toEqual([1999]);
    expect(pagesOf({ start: 5, end: 5 }, 50)).toEqual([]);
  });
});

describe('scrollToShow', () => {
  it('moves as little as possible, and not at all for a row in view', () => {
    expect(scrollToShow(3, 520, 520, 52)).toBe(156); // above: to the top
    expect(scrollToShow(25, 520, 520, 52)).toBe(832); // below: to the bottom edge
    expect(scrollToShow(12, 520, 520, 52)).toBeNull();
  });
});

describe('PageCache', () => {
  const page = (n: number) => Array.from({ length: 50 }, (_, i) => n * 50 + i);

  it('reads rows by index from their page', () => {
    const cache = new PageCache<number>(50, 4);
    cache.put(2, page(2));
    expect(cache.row(120)).toBe(120);
    expect(cache.row(20)).toBeUndefined();
    expect(cache.needs(2)).toBe(false);
    expect(cache.needs(0)).toBe(true);
  });

  it('evicts the pages farthest from the ones in use, keeping at most its bound', () => {
    const cache = new PageCache<number>(50, 4);
    for (const n of [0, 1, 2, 3, 4, 5, 9]) cache.put(n, page(n));
    cache.trim([4, 5]);
    expect(cache.pages()).toEqual([2, 3, 4, 5]);
    expect(cache.row(0)).toBeUndefined();
  });

  it('stays bounded while scrolling through the whole list', () => {
    const cache = new PageCache<number>(50, 6);
    for (let n = 0; n < 2000; n += 1) {
      cache.put(n, page(n));
      cache.trim([n]);
      expect(cache.pages().length).toBeLessThanOrEqual(6);
    }
    expect(cache.pages()).toEqual([1994, 1995, 1996, 1997, 1998, 1999]);
  });

  it('keeps every page in use, even beyond its bound', () => {
    const cache = new PageCache<number>(50, 2);
    for (const n of [0, 1, 2]) cache.put(n, page(n));
    cache.trim([0, 1, 2]);
    expect(cache.pages()).toEqual([0, 1, 2]);
  });

  it('shows stale pages until they are fetched again, and can drop them', () => {
    const cache = new PageCache<number>(50, 4);
    cache.put(0, page(0));
    cache.put(1, page(1));
    cache.markStale();
    expect(cache.needs(0)).toBe(true);
    expect(cache.row(3)).toBe(3);
    cache.put(0, page(0).map((n) => -n));
    expect(cache.needs(0)).toBe(false);
    cache.dropStale();
    expect(cache.pages()).toEqual([0]);
    expect(cache.row(3)).toBe(-3);
  });
});
