// Key-name rules, kept identical to `validate_name` in keyward-core so the form can explain a
// problem before the user submits. The backend checks again; its message wins if they differ.

export const NAME_MAX_CHARS = 50;

// Rust's `str::trim` removes characters with the Unicode White_Space property. JavaScript's
// `String.prototype.trim` differs (it also removes U+FEFF and keeps U+0085), so trim by hand.
const WHITE_SPACE = '\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';
const EDGE_SPACE = new RegExp(`^[${WHITE_SPACE}]+|[${WHITE_SPACE}]+$`, 'gu');

// Rust's `char::is_control` (general category Cc), plus the Unicode line and paragraph
// separators, which break a line too.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/u;

// Zero-width and text-direction characters that make a name look like something it is not.
const DECEPTIVE =
  /[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\uFFF9-\uFFFB\u{E0000}-\u{E007F}]/u;

export function trimName(raw: string): string {
  return raw.replace(EDGE_SPACE, '');
}

/** Length in Unicode scalar values, as Rust counts `chars()`. */
export function nameLength(raw: string): number {
  return [...trimName(raw)].length;
}

/** The message to show for a key name, or `null` when it is fine. */
export function validateName(raw: string): string | null {
  const name = trimName(raw);
  const count = [...name].length;
  if (count === 0) return 'Give the key a name.';
  if (count > NAME_MAX_CHARS) {
    return `The name is ${count} characters long; use at most ${NAME_MAX_CHARS}.`;
  }
  if (CONTROL.test(name)) {
    return 'The name contains a control character (such as a tab or a line break); remove it.';
  }
  if (DECEPTIVE.test(name)) {
    return 'The name contains an invisible or text-direction character; remove it.';
  }
  return null;
}
