import type { ExpiryChoice } from '../bindings/ExpiryChoice';
import { DEFAULT_EXPIRY_DAYS, EXPIRY_PRESET_DAYS } from '../bindings/rules';

/** A preset (its days, from the Rust rules), a date, or never. */
export type ExpiryOption = `${(typeof EXPIRY_PRESET_DAYS)[number]}` | 'date' | 'never';

export const DEFAULT_EXPIRY = String(DEFAULT_EXPIRY_DAYS) as ExpiryOption;

export const EXPIRY_OPTIONS: readonly { value: ExpiryOption; label: string }[] = [
  ...EXPIRY_PRESET_DAYS.map((days) => ({
    value: String(days) as ExpiryOption,
    label: days === DEFAULT_EXPIRY_DAYS ? `${days} days (recommended)` : `${days} days`,
  })),
  { value: 'date', label: 'On a date…' },
  { value: 'never', label: 'Never' },
];

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** A local calendar date as `YYYY-MM-DD`, the format of `<input type="date">`. */
export function toDateInputValue(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Tomorrow's local date as `YYYY-MM-DD`: the earliest date a key may expire on. */
export function tomorrow(now: Date = new Date()): string {
  return toDateInputValue(new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1));
}

/** Parses `YYYY-MM-DD` as a local calendar date, or `null`. */
export function parseDateInput(value: string): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(year, month - 1, day);
  if (date.getFullYear() !== year || date.getMonth() !== month - 1 || date.getDate() !== day) {
    return null;
  }
  return date;
}

/** The end of a local calendar day: local midnight at the start of the next day. */
export function endOfLocalDay(value: string): Date | null {
  const date = parseDateInput(value);
  if (!date) return null;
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() + 1);
}

/** What is wrong with a chosen expiry date, or `null` when it can be used. */
export function validateExpiryDate(value: string, now: Date = new Date()): string | null {
  if (value === '') return 'Pick the date the key expires on.';
  const date = parseDateInput(value);
  if (!date) return 'Enter a valid date.';
  if (value < tomorrow(now)) return 'Pick a date after today.';
  return null;
}

/** The choice to send to `create_key`, or `null` if the date is not usable. */
export function toExpiryChoice(
  option: ExpiryOption,
  dateValue: string,
  now: Date = new Date(),
): ExpiryChoice | null {
  if (option === 'never') return { kind: 'never' };
  if (option === 'date') {
    if (validateExpiryDate(dateValue, now) !== null) return null;
    const end = endOfLocalDay(dateValue);
    return end ? { kind: 'until', value: end.toISOString() } : null;
  }
  return { kind: 'days', value: Number(option) };
}

/** When a key created now would expire; `null` for never or an unusable date. */
export function expiryMoment(
  option: ExpiryOption,
  dateValue: string,
  now: Date = new Date(),
): Date | null {
  const choice = toExpiryChoice(option, dateValue, now);
  if (!choice) return null;
  if (choice.kind === 'days') return new Date(now.getTime() + choice.value * 86_400_000);
  if (choice.kind === 'until') return new Date(choice.value);
  return null;
}
