// Words and numbers for the Server screen.

/** The codes a verify server answers with, in the order checks run, and what each means. */
export const CODES: readonly { code: string; meaning: string }[] = [
  { code: 'VALID', meaning: 'The key is good' },
  { code: 'MALFORMED', meaning: 'Not shaped like a Keyward key' },
  { code: 'NOT_FOUND', meaning: 'No such key, or a wrong secret' },
  { code: 'REVOKED', meaning: 'The key was revoked' },
  { code: 'EXPIRED', meaning: 'The key is past its expiry' },
  { code: 'FORBIDDEN', meaning: 'A required scope is missing' },
  { code: 'RATE_LIMITED', meaning: 'Over its plan’s rate' },
  { code: 'USAGE_EXCEEDED', meaning: 'Over its plan’s quota' },
];

/** Every code to show: the known ones in order, then any other a newer server answered with. */
export function codesOf(...counts: Record<string, number>[]): string[] {
  const known = CODES.map((c) => c.code);
  const extra = counts
    .flatMap((c) => Object.keys(c))
    .filter((code, i, all) => !known.includes(code) && all.indexOf(code) === i)
    .sort();
  return [...known, ...extra];
}

export function meaningOf(code: string): string {
  return CODES.find((c) => c.code === code)?.meaning ?? '';
}

/** All verifications in `counts`. */
export function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const dayAndClock = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** When a server started, in local time: the clock alone today ("14:02"), else with the date. */
export function formatSince(iso: string, now: Date = new Date()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toDateString() === now.toDateString() ? clock.format(date) : dayAndClock.format(date);
}

/** The URL a service calls, from a listening address (`0.0.0.0` is reached as this machine). */
export function baseUrl(address: string): string {
  const reachable = address.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  return `http://${reachable}`;
}

/** The command a service's developer can try: verify a key with curl. */
export function curlExample(address: string): string {
  return [
    `curl -s -X POST ${baseUrl(address)}/v1/verify \\`,
    `  -H 'Authorization: Bearer SERVICE_KEY' \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d '{"key":"KEY_TO_CHECK"}'`,
  ].join('\n');
}
