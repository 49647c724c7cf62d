// Settings rules, kept identical to `validate_settings` in keyward-core so the form can explain
// a problem before saving. The backend checks again; its message wins if they differ.

export const EXPIRY_OPTIONS: readonly { value: number; label: string }[] = [
  { value: 7, label: '7 days' },
  { value: 30, label: '30 days' },
  { value: 60, label: '60 days' },
  { value: 90, label: '90 days' },
  { value: 180, label: '180 days' },
  { value: 365, label: '365 days' },
  { value: 0, label: 'Never' },
];

function wholeNumber(text: string): number | null {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : null;
}

export function validateClipboardSeconds(text: string): string | null {
  const n = wholeNumber(text);
  return n !== null && n >= 5 && n <= 600 ? null : 'Enter a whole number of seconds from 5 to 600.';
}

export function validateOwnerLimit(text: string): string | null {
  const n = wholeNumber(text);
  return n !== null && n >= 1 && n <= 1000 ? null : 'Enter a whole number from 1 to 1000.';
}

export function validatePrefix(prefix: string): string | null {
  if (/^[a-z0-9]{2,16}$/.test(prefix)) return null;
  return 'Use 2 to 16 lowercase letters or digits, e.g. “kw” or “acme”.';
}

export function validateScope(scope: string): string | null {
  if (scope === '') return 'Type a scope name first.';
  if (/^[A-Za-z0-9:._-]{1,64}$/.test(scope)) return null;
  return `“${scope}” is not a valid scope: use 1 to 64 letters, digits, “:”, “.”, “_” or “-”.`;
}
