import { describe, expect, it, vi } from 'vitest';

/**
 * Loads format.ts as if `locale` were the web view's default locale. The stubs only fill in a
 * missing locale, so code asking for a locale by name still gets the real one; the module is
 * loaded afresh because it builds its formatters once, when it loads.
 */
async function formatUnder(locale: string) {
  const RealNumberFormat = Intl.NumberFormat;
  const realToLocaleString = Number.prototype.toLocaleString;
  vi.spyOn(Intl, 'NumberFormat').mockImplementation(function (
    locales?: Intl.LocalesArgument,
    options?: Intl.NumberFormatOptions,
  ) {
    return new RealNumberFormat(locales ?? locale, options);
  });
  vi.spyOn(Number.prototype, 'toLocaleString').mockImplementation(function (
    this: number,
    locales?: Intl.LocalesArgument,
    options?: Intl.NumberFormatOptions,
  ) {
    return realToLocaleString.call(this, locales ?? locale, options);
  });
  vi.resetModules();
  return import('./format');
}

describe('pluralize', () => {
  // What a web view started under LANG=C or POSIX resolves to: a locale that never groups.
  it('groups digits the English way when the locale does not group them', async () => {
    const { formatCount, pluralize } = await formatUnder('en-US-u-va-posix');
    expect(pluralize(1, 'key', 'keys')).toBe('1 key');
    expect(pluralize(1000, 'key', 'keys')).toBe('1,000 keys');
    expect(pluralize(100000, 'key', 'keys')).toBe('100,000 keys');
    expect(formatCount(100000)).toBe('100,000');
  });

  it("keeps the user's own grouping when their locale has one", async () => {
    const { pluralize } = await formatUnder('de-DE');
    expect(pluralize(1, 'key', 'keys')).toBe('1 key');
    expect(pluralize(1000, 'key', 'keys')).toBe('1.000 keys');
    expect(pluralize(100000, 'key', 'keys')).toBe('100.000 keys');
  });

  // Spanish leaves four digits ungrouped by design; that must not count as "does not group".
  it('does not override a locale that only groups five digits or more', async () => {
    const { pluralize } = await formatUnder('es');
    expect(pluralize(1000, 'key', 'keys')).toBe('1000 keys');
    expect(pluralize(100000, 'key', 'keys')).toBe('100.000 keys');
  });
});
