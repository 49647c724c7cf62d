import { describe, expect, it } from 'vitest';
import { nameLength, trimName, validateName } from './validation';

describe('validateName', () => {
  it('accepts an ordinary name, trimmed', () => {
    expect(validateName('  build server  ')).toBeNull();
    expect(trimName('  build server  ')).toBe('build server');
  });

  it('asks for a name when it is empty or only spaces', () => {
    expect(validateName('')).toBe('Give the key a name.');
    expect(validateName('   \u00A0 ')).toBe('Give the key a name.');
  });

  it('counts characters, not UTF-16 units, like the core', () => {
    expect(validateName('é'.repeat(50))).toBeNull();
    expect(validateName('🔑'.repeat(50))).toBeNull();
    expect(nameLength('🔑🔑')).toBe(2);
    expect(validateName('a'.repeat(51))).toBe('The name is 51 characters long; use at most 50.');
  });

  it('rejects control characters inside the name', () => {
    expect(validateName('build\tserver')).toBe(
      'The name contains a control character (such as a tab or a line break); remove it.',
    );
    expect(validateName('a\nb')).toMatch(/control character/);
    expect(validateName('a\u0085b')).toMatch(/control character/);
  });

  it('rejects invisible and text-direction characters, even at the edges', () => {
    const message = 'The name contains an invisible or text-direction character; remove it.';
    for (const c of ['\u200B', '\u200F', '\u202E', '\u2060', '\u2066', '\u061C']) {
      expect(validateName(`pay${c}roll`)).toBe(message);
    }
    // JavaScript's trim() would drop a leading BOM; the core does not, so neither do we.
    expect(validateName('\uFEFFpayroll')).toBe(message);
  });
});
