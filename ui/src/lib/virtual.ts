// The math behind a virtual list: a scroll container as tall as every row, with only the rows near
// the viewport in the DOM, filled from pages fetched by offset. Kept apart from the component so
// it can be tested without a layout engine.

import { SvelteMap } from 'svelte/reactivity';

/** Rows `start` (inclusive) to `end` (exclusive). */
export interface RowRange {
  start: number;
  end: number;
}

export const EMPTY_RANGE: RowRange = { start: 0, end: 0 };

/**
 * The rows on screen for a scroll position, plus `overscan` rows either side, within `[0, total)`.
 * `scrollTop` is how far the rows have moved up (under a sticky header, if any), and
 * `viewportHeight` the height they can be seen in. A scroll position past the end (the list shrank
 * under it) shows the last screenful rather than nothing.
 */
export function rowWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  total: number,
  overscan = 0,
): RowRange {
  if (total <= 0 || rowHeight <= 0) return EMPTY_RANGE;
  const height = Math.max(0, viewportHeight);
  const top = Math.min(Math.max(0, scrollTop), Math.max(0, total * rowHeight - height));
  const first = Math.floor(top / rowHeight);
  // A row cut off at the bottom edge still counts as on screen.
  const end = Math.min(total, Math.ceil((top + height) / rowHeight));
  return {
    start: Math.max(0, first - overscan),
    end: Math.min(total, Math.max(end, first) + overscan),
  };
}

/** The pages (of `pageSize` rows, numbered from 0) that hold any row of `range`. */
export function pagesOf(range: RowRange, pageSize: number): number[] {
  if (range.end <= range.start) return [];
  const first = Math.floor(range.start / pageSize);
  const last = Math.floor((range.end - 1) / pageSize);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/**
 * The scrollTop that brings row `index` fully into view, moving as little as possible, or `null`
 * when it is already in view. Same measures as `rowWindow`.
 */
export function scrollToShow(
  index: number,
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
): number | null {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewportHeight) return top + rowHeight - viewportHeight;
  return null;
}

interface Page<T> {
  rows: T[];
  /** False once the data may have changed: shown until a new copy arrives, but fetched again. */
  fresh: boolean;
}

/**
 * Pages of rows around the viewport, at most `maxPages` of them (more only while more are in use),
 * so memory stays bounded however far the list is scrolled. Reads are reactive.
 */
export class PageCache<T> {
  readonly #pages = new SvelteMap<number, Page<T>>();

  constructor(
    readonly pageSize: number,
    readonly maxPages: number,
  ) {}

  /** Row `index`, or undefined while its page is not here. */
  row(index: number): T | undefined {
    return this.#pages.get(Math.floor(index / this.pageSize))?.rows[index % this.pageSize];
  }

  /** Whether `page` has to be fetched: it is missing or out of date. */
  needs(page: number): boolean {
    return !this.#pages.get(page)?.fresh;
  }

  put(page: number, rows: T[]): void {
    this.#pages.set(page, { rows, fresh: true });
  }

  /** Keeps showing what is here, but fetches every page again before trusting it. */
  markStale(): void {
    for (const [page, entry] of this.#pages) {
      if (entry.fresh) this.#pages.set(page, { rows: entry.rows, fresh: false });
    }
  }

  /** Forgets the out-of-date pages, e.g. once rows of a new query start to arrive. */
  dropStale(): void {
    for (const [page, entry] of [...this.#pages]) if (!entry.fresh) this.#pages.delete(page);
  }

  clear(): void {
    this.#pages.clear();
  }

  /**
   * Evicts the pages farthest from `inUse` until at most `maxPages` remain; pages in `inUse` stay
   * even when they alone are more than that.
   */
  trim(inUse: readonly number[]): void {
    if (this.#pages.size <= this.maxPages) return;
    const keep = new Set(inUse);
    const distance = (page: number) =>
      inUse.length === 0 ? page : Math.min(...inUse.map((p) => Math.abs(p - page)));
    const spare = [...this.#pages.keys()]
      .filter((page) => !keep.has(page))
      .sort((a, b) => distance(b) - distance(a));
    for (const page of spare) {
      if (this.#pages.size <= this.maxPages) break;
      this.#pages.delete(page);
    }
  }

  /** The pages held, in ascending order. */
  pages(): number[] {
    return [...this.#pages.keys()].sort((a, b) => a - b);
  }
}
