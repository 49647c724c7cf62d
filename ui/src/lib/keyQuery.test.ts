import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyQuery, SEARCH_DELAY_MS } from './keyQuery.svelte';

describe('KeyQuery', () => {
  afterEach(() => vi.useRealTimers());

  function query() {
    const changes = vi.fn();
    return { q: new KeyQuery(changes, 7), changes };
  }

  // The first view, which app_info answers at start-up (first_page_query in src-tauri).
  it('asks for everything, newest first, to begin with', () => {
    const { q } = query();
    expect(q.filtered).toBe(false);
    expect(q.at(100, 50)).toEqual({
      search: null,
      status: null,
      owner: null,
      role: null,
      expiring_within_days: null,
      sort: 'created',
      descending: true,
      offset: 100,
      limit: 50,
    });
  });

  it('searches for the trimmed text once typing pauses, and only when it changed', () => {
    vi.useFakeTimers();
    const { q, changes } = query();
    q.text = ' pay';
    q.typed();
    q.text = ' payroll ';
    q.typed();
    vi.advanceTimersByTime(SEARCH_DELAY_MS - 1);
    expect(changes).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(changes).toHaveBeenCalledTimes(1);
    expect(q.at(0, 50).search).toBe('payroll');
    expect(q.filtered).toBe(true);
    q.text = 'payroll';
    q.applySearch();
    expect(changes).toHaveBeenCalledTimes(1);
  });

  it('clears the search and every filter, keeping the sort', () => {
    vi.useFakeTimers();
    const { q, changes } = query();
    q.sortBy('name');
    q.text = 'x';
    q.typed();
    q.status = 'revoked';
    q.owner = 'Alice';
    q.role = 'admin';
    q.expiringSoon = true;
    expect(q.at(0, 50)).toMatchObject({ status: 'revoked', owner: 'Alice', role: 'admin', expiring_within_days: 7 });
    q.clear();
    vi.advanceTimersByTime(SEARCH_DELAY_MS);
    // Once for the clearing; the search typed before it was never sent.
    expect(changes).toHaveBeenCalledTimes(1);
    expect(q.filtered).toBe(false);
    expect(q.text).toBe('');
    expect(q.at(0, 50)).toMatchObject({ search: null, status: null, sort: 'name', descending: false });
  });

  it('sorts dates and usage newest or most first, words A to Z; again turns the order round', () => {
    const { q, changes } = query();
    q.sortBy('name');
    expect([q.sort, q.descending, q.ariaSort('name'), q.ariaSort('created')]).toEqual([
      'name',
      false,
      'ascending',
      'none',
    ]);
    q.sortBy('name');
    expect(q.ariaSort('name')).toBe('descending');
    q.sortBy('last_used');
    expect(q.descending).toBe(true);
    q.sortBy('usage');
    expect(q.descending).toBe(true);
    q.sortBy('expires');
    expect(q.descending).toBe(false);
    // Sorting is the caller's to act on: the selection stays.
    expect(changes).not.toHaveBeenCalled();
  });
});
