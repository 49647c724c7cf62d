import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { live, POLL_MS, startLiveUpdates } from './live.svelte';

describe('startLiveUpdates', () => {
  let visibility: DocumentVisibilityState = 'visible';

  beforeEach(() => {
    vi.useFakeTimers();
    visibility = 'visible';
    vi.spyOn(document, 'visibilityState', 'get').mockImplementation(() => visibility);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts each change noticed, asks one question at a time, and never after stopping', async () => {
    let counter = 7;
    let asked = 0;
    const stop = startLiveUpdates(async () => {
      asked += 1;
      return counter;
    });
    const before = live.changes;
    await vi.advanceTimersByTimeAsync(POLL_MS * 2);
    expect(live.changes).toBe(before);
    counter = 9;
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(live.changes).toBe(before + 1);
    await vi.advanceTimersByTimeAsync(POLL_MS * 2);
    expect(live.changes).toBe(before + 1);
    stop();
    const questions = asked;
    counter = 10;
    await vi.advanceTimersByTimeAsync(POLL_MS * 4);
    expect(asked).toBe(questions);
    expect(live.changes).toBe(before + 1);
  });

  it('asks nothing while hidden and at once when shown again', async () => {
    let counter = 1;
    let asked = 0;
    const stop = startLiveUpdates(async () => {
      asked += 1;
      return counter;
    });
    const before = live.changes;
    await vi.advanceTimersByTimeAsync(POLL_MS);
    visibility = 'hidden';
    await vi.advanceTimersByTimeAsync(POLL_MS * 2);
    const whileHidden = asked;
    counter = 2;
    await vi.advanceTimersByTimeAsync(POLL_MS * 10);
    expect(asked).toBe(whileHidden);
    visibility = 'visible';
    document.dispatchEvent(new Event('visibilitychange'));
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toBe(whileHidden + 1);
    expect(live.changes).toBe(before + 1);
    stop();
  });

  it('keeps asking after a failure and stops for a database that cannot tell', async () => {
    let answer: () => Promise<number | null> = () => Promise.reject(new Error('busy'));
    let asked = 0;
    const stop = startLiveUpdates(() => {
      asked += 1;
      return answer();
    });
    await vi.advanceTimersByTimeAsync(POLL_MS * 2);
    expect(asked).toBe(3);
    answer = async () => null;
    await vi.advanceTimersByTimeAsync(POLL_MS * 5);
    expect(asked).toBe(4);
    stop();
  });
});
