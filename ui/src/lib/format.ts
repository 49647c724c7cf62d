const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'long' });

function parse(iso: string): Date | null {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** An ISO UTC time in local time, e.g. "Mar 4, 2025, 3:12 PM". */
export function formatDateTime(iso: string | null, empty = '—'): string {
  if (iso === null) return empty;
  const date = parse(iso);
  return date ? dateTime.format(date) : iso;
}

/** A date in local time without the clock, e.g. "June 2, 2025". */
export function formatLongDate(date: Date): string {
  return dateOnly.format(date);
}

/**
 * The user's number format if it groups digits, else English grouping. A web view started under
 * LANG=C or POSIX resolves to a locale that never groups, and "100000 keys" is hard to read.
 */
function groupingNumberFormat(): Intl.NumberFormat {
  const local = new Intl.NumberFormat();
  // Seven digits, not four: Spanish or Polish leave 1000 ungrouped on purpose yet group larger
  // numbers, and those users should keep their own separators.
  const groups = local.formatToParts(1_000_000).some((part) => part.type === 'group');
  return groups ? local : new Intl.NumberFormat('en');
}

const countFormat = groupingNumberFormat();

/** A count with grouped digits in the user's locale, e.g. "100,000" or "100.000". */
export function formatCount(count: number): string {
  return countFormat.format(count);
}

export function pluralize(count: number, one: string, many: string): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

const dayPart = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const timePart = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

/** An ISO UTC time split into a local date and a local time, for two-line table cells. */
export function dateParts(iso: string): { date: string; time: string } | null {
  const date = parse(iso);
  return date ? { date: dayPart.format(date), time: timePart.format(date) } : null;
}
