// Live updates: while the window is visible, ask every half second whether anyone changed the
// database, and let each view on screen reload what it shows when they did. One poller for the
// whole app; views subscribe with `onDatabaseChange`.

import { untrack } from 'svelte';
import { changeCounter } from '../api/changes';

/** How often to ask. The question is cheap (SQLite: one pragma; PostgreSQL: no query at all). */
export const POLL_MS = 500;

/** Goes up by one each time a change by anyone was noticed. */
export const live = $state({ changes: 0 });

/**
 * Starts polling; returns the function that stops it. A failed poll is skipped quietly: the
 * views report real failures when they read, and the next poll may work again. A database that
 * cannot tell (`null`) is not asked again.
 */
export function startLiveUpdates(ask: () => Promise<number | null> = changeCounter): () => void {
  let last: number | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let asking = false;
  let stopped = false;

  async function poll(): Promise<void> {
    timer = undefined;
    // One question at a time; a hidden window asks nothing.
    if (stopped || asking || document.visibilityState === 'hidden') return;
    asking = true;
    let counter: number | null | undefined;
    try {
      counter = await ask();
    } catch {
      counter = undefined;
    } finally {
      asking = false;
    }
    if (stopped || counter === null) return;
    if (counter !== undefined) {
      if (last !== null && counter !== last) live.changes += 1;
      last = counter;
    }
    timer = setTimeout(() => void poll(), POLL_MS);
  }

  // Shown again, it asks at once, so changes made meanwhile show without waiting.
  function onVisibility(): void {
    if (document.visibilityState === 'visible' && timer === undefined) void poll();
  }

  document.addEventListener('visibilitychange', onVisibility);
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}

/**
 * Calls `reload` after each change noticed from now on, while the calling component is mounted.
 * Call it while the component initialises (it sets up an effect).
 */
export function onDatabaseChange(reload: () => void): void {
  let seen = untrack(() => live.changes);
  $effect(() => {
    const now = live.changes;
    if (now === seen) return;
    seen = now;
    untrack(reload);
  });
}
