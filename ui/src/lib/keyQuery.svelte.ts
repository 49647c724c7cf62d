// What the key list asks the backend for: the search, the filters and the sort, as the toolbar and
// the column headers set them. Kept out of the components so the screen, the toolbar and the
// table share one copy, and so the typed search survives the toolbar being unmounted (it is not
// shown while there are no keys at all).

import type { KeyStatus } from '../bindings/KeyStatus';
import type { ListQuery } from '../bindings/ListQuery';
import type { Role } from '../bindings/Role';
import type { SortColumn } from '../bindings/SortColumn';

/** Typing pauses this long before the search is sent, so each keystroke does not ask. */
export const SEARCH_DELAY_MS = 200;

/** Dates read best newest first, usage most used first; words A to Z. */
export function startsDescending(column: SortColumn): boolean {
  return column === 'created' || column === 'last_used' || column === 'usage';
}

export class KeyQuery {
  /** The search box as typed; `search` is what the list shows, once typing pauses. */
  text = $state('');
  search = $state('');
  status = $state<KeyStatus | ''>('');
  owner = $state('');
  role = $state<Role | ''>('');
  expiringSoon = $state(false);
  sort = $state<SortColumn>('created');
  descending = $state(true);

  /** Whether anything narrows the list (an empty result then means "no matches", not "no keys"). */
  readonly filtered = $derived(
    this.search !== '' || this.status !== '' || this.owner !== '' || this.role !== '' || this.expiringSoon,
  );

  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onFilterChange: () => void;
  readonly #soonDays: number;

  /**
   * `onFilterChange` runs after every change of the search or a filter (not of the sort);
   * `soonDays` is what "expires soon" means, in days.
   */
  constructor(onFilterChange: () => void, soonDays: number) {
    this.#onFilterChange = onFilterChange;
    this.#soonDays = soonDays;
  }

  /** The search box changed: search once typing pauses. */
  typed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.applySearch(), SEARCH_DELAY_MS);
  }

  /** Searches for the typed text now (Enter, or the pause after typing), if it changed. */
  applySearch(): void {
    clearTimeout(this.#timer);
    const next = this.text.trim();
    if (next === this.search) return;
    this.search = next;
    this.#onFilterChange();
  }

  /** A filter control changed (its new value is already bound here). */
  filterChanged(): void {
    this.#onFilterChange();
  }

  /** Drops the search and every filter; the sort stays. */
  clear(): void {
    clearTimeout(this.#timer);
    this.text = '';
    this.search = '';
    this.status = '';
    this.owner = '';
    this.role = '';
    this.expiringSoon = false;
    this.#onFilterChange();
  }

  /** The same column again turns the order round; another starts in its natural order. */
  sortBy(column: SortColumn): void {
    if (this.sort === column) {
      this.descending = !this.descending;
    } else {
      this.sort = column;
      this.descending = startsDescending(column);
    }
  }

  ariaSort(column: SortColumn): 'ascending' | 'descending' | 'none' {
    if (this.sort !== column) return 'none';
    return this.descending ? 'descending' : 'ascending';
  }

  /** The request for `limit` rows from `offset`. */
  at(offset: number, limit: number): ListQuery {
    return {
      search: this.search === '' ? null : this.search,
      status: this.status === '' ? null : this.status,
      owner: this.owner === '' ? null : this.owner,
      role: this.role === '' ? null : this.role,
      expiring_within_days: this.expiringSoon ? this.#soonDays : null,
      sort: this.sort,
      descending: this.descending,
      offset,
      limit,
    };
  }

  /** Stops a pending search (the screen is going away). */
  dispose(): void {
    clearTimeout(this.#timer);
  }
}
