// The key list's rows, fetched by page as the screen needs them (`./virtual` has the arithmetic
// and the cache): how many keys match, which pages are loaded, and starting again after a new
// query or a change to the keys. Nothing here knows about the DOM.
//
// A searched list may be counted only up to a cap (`KeyPage.total_exact` false): `total` is then
// the rows known so far, a lower bound, and the page just past them is asked for once the screen
// nears their end; its answer raises the bound (1,000+ becomes 2,000+) or gives the exact count.

import { listKeys, PAGE_SIZE, toIpcError } from '../api';
import type { KeyPage } from '../bindings/KeyPage';
import type { KeySummary } from '../bindings/KeySummary';
import type { ListQuery } from '../bindings/ListQuery';
import { formatCount, pluralize } from './format';
import { reportError } from './status.svelte';
import { PageCache, pagesOf, type RowRange } from './virtual';

// Enough for the rows around a tall window plus some to scroll back to; far pages are evicted.
const MAX_CACHED_PAGES = 12;
// Dragging the scrollbar across 100,000 rows must not queue a request per page passed over:
// at most this many run at once, and each one that finishes asks for what is on screen then.
const MAX_IN_FLIGHT = 3;

/** How many keys match: exactly, or (`total_exact` false) at least `total`. As in `KeyPage`. */
export interface ListTotal {
  total: number;
  total_exact: boolean;
}

/**
 * What is known of the count after a page's answer. A new query's first answer replaces the old
 * query's count. Otherwise an exact answer is the count (it may have shrunk or grown since); an
 * answer of "at least N" only ever raises a lower bound, so rows already reached stay and the
 * list does not jump when the first page, asked again, answers with the smaller cap.
 */
export function mergeTotal(known: ListTotal, answer: ListTotal, newQuery: boolean): ListTotal {
  if (newQuery || answer.total_exact) return { total: answer.total, total_exact: answer.total_exact };
  // An exact count that agrees with the bound stays exact.
  if (known.total_exact && known.total >= answer.total) return known;
  return { total: Math.max(known.total, answer.total), total_exact: false };
}

/**
 * The pages to have, most wanted first: the ones on screen (so they arrive first), then the rest
 * of the rendered rows; with no count yet, the first page tells it. While the count is only a
 * lower bound, rendered rows reaching its end ask for the page after them, which raises it.
 */
export function wantedPages(
  onScreen: RowRange,
  rendered: RowRange,
  count: ListTotal,
  pageSize: number,
): number[] {
  if (count.total === 0) return [0];
  const pages = [...pagesOf(onScreen, pageSize), ...pagesOf(rendered, pageSize)];
  if (!count.total_exact && rendered.end >= count.total) pages.push(Math.floor(count.total / pageSize));
  return pages.filter((page, i) => pages.indexOf(page) === i);
}

/** "1 key", "1,500 keys", or for a lower bound "1,000+ keys". */
export function countLabel(count: ListTotal): string {
  return count.total_exact
    ? pluralize(count.total, 'key', 'keys')
    : `${formatCount(count.total)}+ keys`;
}

/** Why a count ends in "+", for the tooltip and screen readers. */
export function countExplanation(count: ListTotal): string {
  return (
    `More than ${formatCount(count.total)} keys match; the exact number is not counted while ` +
    'searching. Scroll on to see more.'
  );
}

interface Source {
  /** The request for `limit` rows from `offset`, as the query stands now. */
  query: (offset: number, limit: number) => ListQuery;
  /** The pages the screen wants now (`wantedPages`); read again each time a page arrives. */
  wanted: () => number[];
  /** Each page's keys as they arrive (the screen keeps its selection up to date with them). */
  onrows: (keys: KeySummary[]) => void;
}

export class KeyList {
  readonly cache = new PageCache<KeySummary>(PAGE_SIZE, MAX_CACHED_PAGES);
  /** Rows known to match: all of them, or while `totalExact` is false the fewest there are. */
  total = $state(0);
  totalExact = $state(true);
  /** The first page has arrived (until then there is no count to show). */
  loaded = $state(false);
  /** A new query is on its way (the old rows stay, dimmed, until its first page arrives). */
  loading = $state(false);
  /** Settles once the first page has arrived or failed. */
  readonly firstPage: Promise<void>;

  readonly #source: Source;
  #settleFirstPage: () => void = () => undefined;
  /** Pages being fetched, with the generation they were asked for. Nothing renders from it. */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  readonly #inFlight = new Map<number, number>();
  /** Bumped by every restart: answers to older requests are dropped. */
  #generation = 0;
  /** The next answer is the new query's first: it replaces the old rows and count. */
  #replacing = false;

  constructor(source: Source) {
    this.#source = source;
    this.firstPage = new Promise<void>((resolve) => (this.#settleFirstPage = resolve));
  }

  /**
   * Takes a first page answered before the list existed (the app's start-up answer, for the
   * list's first view: no search or filter, newest first, `PAGE_SIZE` keys) as if it had been
   * fetched. The caller gives it only while its query is still that first view; anything
   * already loaded or asked for wins.
   */
  seed(first: KeyPage | null): void {
    if (first === null || first.offset !== 0 || this.loaded || this.#inFlight.size > 0) return;
    this.cache.put(0, first.keys);
    this.total = first.total;
    this.totalExact = first.total_exact !== false;
    this.loaded = true;
    this.#source.onrows(first.keys);
    this.#settleFirstPage();
  }

  /** Row `index`, or undefined while its page is loading. */
  row(index: number): KeySummary | undefined {
    return this.cache.row(index);
  }

  /** Fetches the pages in `pages` that are missing or stale, and forgets far-away ones. */
  fetch(pages: number[]): void {
    this.cache.trim(pages);
    for (const page of pages) {
      if (this.#inFlight.size >= MAX_IN_FLIGHT) return;
      if (!this.#inFlight.has(page) && this.cache.needs(page)) void this.#fetchPage(page);
    }
  }

  /**
   * Fetches what is wanted again. For a new query the old rows stay, dimmed, until its first
   * page arrives; after a change to the keys the rows on hand show until fresh copies arrive.
   * A new query's caller moves the screen back to the top first, so the top is what is wanted.
   */
  restart(newQuery: boolean): void {
    this.#generation += 1;
    this.#inFlight.clear();
    this.cache.markStale();
    if (newQuery) {
      this.#replacing = true;
      this.loading = true;
    }
    this.fetch(this.#source.wanted());
  }

  async #fetchPage(page: number): Promise<void> {
    const current = this.#generation;
    this.#inFlight.set(page, current);
    let fetched = false;
    try {
      const result = await listKeys(this.#source.query(page * PAGE_SIZE, PAGE_SIZE));
      if (current !== this.#generation) return;
      const newQuery = this.#replacing;
      if (newQuery) {
        this.cache.dropStale();
        this.#replacing = false;
      }
      this.cache.put(page, result.keys);
      const known = { total: this.total, total_exact: this.totalExact };
      // Only an answer that says so is a lower bound (one without the field is counted).
      const answer = { total: result.total, total_exact: result.total_exact !== false };
      const merged = mergeTotal(known, answer, newQuery);
      this.total = merged.total;
      this.totalExact = merged.total_exact;
      this.loaded = true;
      this.loading = false;
      this.#source.onrows(result.keys);
      fetched = true;
    } catch (raw) {
      if (current === this.#generation) {
        this.loading = false;
        reportError(toIpcError(raw));
      }
    } finally {
      if (this.#inFlight.get(page) === current) this.#inFlight.delete(page);
      this.#settleFirstPage();
    }
    // The viewport may have moved on while this page loaded. Not after a failure: that would
    // retry in a loop; the next scroll or change tries again.
    if (fetched) this.fetch(this.#source.wanted());
  }
}
