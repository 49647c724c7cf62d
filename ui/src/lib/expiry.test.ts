import { describe, expect, it } from 'vitest';
import { endOfLocalDay, toExpiryChoice, tomorrow, validateExpiryDate } from './expiry';
import { maskToken } from './secret';
import { SECRET_PART, TOKEN } from '../test/fixtures';

describe('expiry choices', () => {
  const now = new Date(2025, 2, 31, 15, 30); // 31 March 2025, local time

  it('sends preset days as a number of days', () => {
    expect(toExpiryChoice('30', '', now)).toEqual({ kind: 'days', value: 30 });
    expect(toExpiryChoice('never', '', now)).toEqual({ kind: 'never' });
  });

  it('turns a date into the end of that local day, in UTC', () => {
    const end = endOfLocalDay('2025-04-10');
    expect(end).toEqual(new Date(2025, 3, 11, 0, 0, 0, 0));
    expect(toExpiryChoice('date', '2025-04-10', now)).toEqual({
      kind: 'until',
      value: new Date(2025, 3, 11).toISOString(),
    });
  });

  it('only allows dates from tomorrow on', () => {
    expect(tomorrow(now)).toBe('2025-04-01');
    expect(validateExpiryDate('2025-03-31', now)).toBe('Pick a date after today.');
    expect(validateExpiryDate('', now)).toBe('Pick the date the key expires on.');
    expect(validateExpiryDate('2025-02-30', now)).toBe('Enter a valid date.');
    expect(validateExpiryDate('2025-04-01', now)).toBeNull();
    expect(toExpiryChoice('date', '2025-03-31', now)).toBeNull();
  });
});

describe('maskToken', () => {
  it('keeps the public id and hides the whole secret part', () => {
    const masked = maskToken(TOKEN);
    expect(masked.startsWith('kw_3fJk9QzP0a_')).toBe(true);
    expect(masked).not.toContain(SECRET_PART.slice(0, 4));
    expect(masked).not.toContain(SECRET_PART.slice(-4));
  });
});
