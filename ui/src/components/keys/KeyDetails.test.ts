import { mockIPC } from '@tauri-apps/api/mocks';
import { render, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KeySummary } from '../../bindings/KeySummary';
import type { KeyUpdate } from '../../bindings/KeyUpdate';
import type { Plan } from '../../bindings/Plan';
import type { QuotaUsage } from '../../bindings/QuotaUsage';
import { ALL_ALLOWED, makeKey, UNLIMITED } from '../../test/fixtures';
import KeyDetails from './KeyDetails.svelte';

const STARTER: Plan = {
  ...UNLIMITED,
  name: 'Starter',
  rate_per_second: 10,
  burst: 20,
  quota: { limit: 1000, per: 'day' },
  is_default: false,
};

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}

/** A backend holding one key; `usage` answers get_quota_usage (it may change between calls). */
function setup(key: KeySummary, usage: () => QuotaUsage | null) {
  const calls: [string, Record<string, unknown>][] = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push([cmd, args]);
    switch (cmd) {
      case 'get_key':
        return key;
      case 'key_history':
        return [];
      case 'get_quota_usage':
        return usage();
      case 'list_owners':
        return [{ name: key.owner, created_at: key.created_at, active_keys: 1, total_keys: 1 }];
      case 'list_plans':
        return [STARTER, UNLIMITED];
      case 'get_settings':
        return {
          default_expiry_days: 90,
          clipboard_clear_seconds: 30,
          key_prefix: 'kw',
          owner_key_limit: 5,
          scope_catalogue: [],
        };
      case 'check_name':
        return { problem: null, name: args.name, length: 1, max: 50 };
      case 'update_key': {
        const update = args.update as KeyUpdate;
        if (update.plan !== null) key = { ...key, plan: update.plan };
        return key;
      }
      default:
        throw new Error(`unexpected ${cmd}`);
    }
  });
  render(KeyDetails, {
    props: { keyId: key.id, permissions: ALL_ALLOWED, onclose: vi.fn(), onchanged: vi.fn(), onerror: vi.fn() },
  });
  return { calls, user: userEvent.setup() };
}

describe('KeyDetails usage', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('shows the plan and its quota usage, read again every few seconds', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let used = 312;
    const { calls } = setup(makeKey({ plan: 'Starter' }), () => ({
      used,
      limit: 1000,
      per: 'day',
      resets_at: '2025-03-05T00:00:00Z',
    }));
    await waitFor(() => expect(byId('key-plan')).toHaveTextContent('Starter'));
    await waitFor(() =>
      expect(byId('key-usage')).toHaveTextContent('312 / 1,000 today, resets at 00:00 UTC'),
    );
    const reads = () => calls.filter(([cmd]) => cmd === 'get_quota_usage').length;
    const before = reads();
    used = 1000;
    await vi.advanceTimersByTimeAsync(5000);
    await waitFor(() => expect(reads()).toBeGreaterThan(before));
    await waitFor(() => expect(byId('key-usage')).toHaveTextContent('1,000 / 1,000 today'));
    expect(byId('key-usage')).toHaveClass('used-up');
  });

  it('names the week or month and the reset day, in UTC', async () => {
    setup(makeKey({ plan: 'Weekly' }), () => ({
      used: 5,
      limit: 50_000,
      per: 'week',
      resets_at: '2026-11-30T00:00:00Z',
    }));
    await waitFor(() => expect(byId('key-usage')).toHaveTextContent(/^5 \/ 50,000 this week, resets /));
    expect(byId('key-usage')).toHaveTextContent(/30.*at 00:00 UTC$/);
  });

  it('says "No quota" for a plan without one, and moves the key to another plan', async () => {
    let plan = 'Unlimited';
    const { calls, user } = setup(makeKey({ plan }), () =>
      plan === 'Starter' ? { used: 0, limit: 1000, per: 'day', resets_at: '2025-03-05T00:00:00Z' } : null,
    );
    await waitFor(() => expect(byId('key-usage')).toHaveTextContent('No quota'));
    expect(byId('key-plan')).toHaveTextContent('Unlimited');

    await user.click(byId('edit-key-btn'));
    const select = await waitFor(() => byId('edit-plan-select'));
    expect(select).toHaveValue('Unlimited');
    expect(select).toHaveTextContent('Starter (10/s, burst 20 · 1,000 per day)');
    await user.selectOptions(select, 'Starter');
    plan = 'Starter';
    await user.click(byId('save-key-btn'));
    await waitFor(() => expect(byId('key-plan')).toHaveTextContent('Starter'));
    const update = calls.find(([cmd]) => cmd === 'update_key')?.[1].update as KeyUpdate;
    expect(update.plan).toBe('Starter');
    expect(update.owner).toBeNull();
    await waitFor(() => expect(byId('key-usage')).toHaveTextContent('0 / 1,000 today'));
  });
});
