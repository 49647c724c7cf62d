/** Elements that can take keyboard focus inside a dialog or side panel. */
export const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), ' +
  'textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * Keeps a Tab key press inside `panel`: focus moves in from outside, and wraps from the last
 * of `items` to the first (Shift+Tab: from the first, or the panel itself, to the last).
 * `items` must not be empty.
 */
export function wrapTab(event: KeyboardEvent, panel: HTMLElement, items: HTMLElement[]): void {
  const first = items[0];
  const last = items[items.length - 1];
  const active = document.activeElement;
  if (!panel.contains(active)) {
    event.preventDefault();
    first.focus();
  } else if (event.shiftKey && (active === first || active === panel)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && active === last) {
    event.preventDefault();
    first.focus();
  }
}
