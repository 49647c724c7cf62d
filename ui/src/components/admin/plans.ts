// Plain words for usage plans: their limits in lists and selects, a key's quota usage, and the
// numbers typed into the plan dialog.

import type { PlanLimits } from '../../bindings/PlanLimits';
import type { QuotaPeriod } from '../../bindings/QuotaPeriod';
import type { QuotaUsage } from '../../bindings/QuotaUsage';
import { formatCount } from '../../lib/format';

export const PERIODS: readonly { value: QuotaPeriod; label: string }[] = [
  { value: 'day', label: 'per day' },
  { value: 'week', label: 'per week' },
  { value: 'month', label: 'per month' },
];

/** "10/s, burst 20", or "No rate limit". */
export function formatRate(limits: PlanLimits): string {
  if (limits.rate_per_second === null) return 'No rate limit';
  const rate = `${formatCount(limits.rate_per_second)}/s`;
  return limits.burst === null ? rate : `${rate}, burst ${formatCount(limits.burst)}`;
}

/** "1,000 per day", or "No quota". */
export function formatQuota(limits: PlanLimits): string {
  if (limits.quota === null) return 'No quota';
  return `${formatCount(limits.quota.limit)} per ${limits.quota.per}`;
}

/** Both, for a select option or a hint: "10/s, burst 20 · 1,000 per day". */
export function formatLimits(limits: PlanLimits): string {
  if (limits.rate_per_second === null && limits.quota === null) return 'No limits';
  return `${formatRate(limits)} · ${formatQuota(limits)}`;
}

const PERIOD_NOW: Record<QuotaPeriod, string> = {
  day: 'today',
  week: 'this week',
  month: 'this month',
};

const utcTime = new Intl.DateTimeFormat('en-GB', {
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
  timeZone: 'UTC',
});
const utcDay = new Intl.DateTimeFormat(undefined, {
  weekday: 'short',
  month: 'short',
  day: 'numeric',
  timeZone: 'UTC',
});

/**
 * "312 / 1,000 today, resets at 00:00 UTC"; for a week or a month the day it resets too
 * ("… this week, resets Mon, Dec 1 at 00:00 UTC"). Times in UTC, as the periods are.
 */
export function formatUsage(usage: QuotaUsage): string {
  const counted = `${formatCount(usage.used)} / ${formatCount(usage.limit)} ${PERIOD_NOW[usage.per]}`;
  const at = new Date(usage.resets_at);
  if (Number.isNaN(at.getTime())) return counted;
  const time = `${utcTime.format(at)} UTC`;
  return usage.per === 'day'
    ? `${counted}, resets at ${time}`
    : `${counted}, resets ${utcDay.format(at)} at ${time}`;
}

/**
 * A whole number typed into a plan field, for the core to check: `null` when it is not a whole
 * number at all. Numbers too large for the field's type are capped, so the core refuses them in
 * its own words ("between 1 and …") instead of the call failing to decode.
 */
export function wholeNumber(text: string, max: number): number | null {
  const trimmed = text.trim();
  if (!/^-?\d+$/.test(trimmed)) return null;
  return Math.min(Math.max(Number(trimmed), 0), max);
}

/** The most a rate or a burst can carry across IPC (u32); the core's own limit is lower. */
export const MAX_U32 = 4_294_967_295;

/** Which field a message from the core about a plan belongs next to. */
export function planField(message: string): 'name' | 'rate' | 'burst' | 'quota' {
  // First: a plan's own name may hold any of the words below ("A plan named “Burst” …").
  if (/name/i.test(message)) return 'name';
  if (/burst/i.test(message)) return 'burst';
  if (/rate|per second/i.test(message)) return 'rate';
  if (/quota/i.test(message)) return 'quota';
  return 'name';
}
