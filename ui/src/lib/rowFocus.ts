// Moving focus between the rows of the virtual key list with the keyboard. The list renders only
// the rows near the screen, so focus is remembered as a row number and a kind of control (not an
// element): the row may have to be scrolled to and loaded before it can take focus.

/** A row to focus: its number in the list and a selector for the control in it. */
export interface RowFocus {
  index: number;
  control: string;
}

/** A key's row, the one whose controls take focus (placeholder rows have none). */
export const KEY_ROW = 'tr[data-key-id]';

/** The rendered row number `index`, once its key is there. */
export function keyRowAt(index: number): string {
  return `${KEY_ROW}[data-row="${index}"]`;
}

/** The control every key row has, the fallback when the wanted one is missing or disabled. */
export const NAME_LINK = 'button.key-name-link';

/**
 * The same kind of control in another row (its checkbox, its name, or one of its actions), so
 * arrowing down a column of checkboxes stays on the checkboxes.
 */
export function controlOf(element: HTMLElement): string {
  if (element.matches('input.row-select')) return 'input.row-select';
  const action = element.dataset.action;
  return action ? `button[data-action="${action}"]` : NAME_LINK;
}

/** The element in `row` to focus for `control`: that control if it can take focus, else the name. */
export function controlIn(row: Element, control: string): HTMLElement | null {
  return row.querySelector<HTMLElement>(`${control}:not(:disabled)`) ?? row.querySelector<HTMLElement>(NAME_LINK);
}

/** The parts of a key press that decide a move. */
export type MoveKey = Pick<KeyboardEvent, 'key' | 'altKey' | 'ctrlKey' | 'metaKey' | 'shiftKey'>;

/**
 * The row a key press moves focus to from row `index`, in a list of `total` rows with
 * `screenRows` of them on screen, or `null` when the key does not move focus (other keys, and
 * any with a modifier, are left to the browser). Up/Down go one row, Page Up/Down a screenful
 * less one (so the row moved from stays in sight), Home and End to the first and the last row.
 */
export function rowAfterKey(event: MoveKey, index: number, total: number, screenRows: number): number | null {
  if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey || total === 0) return null;
  const screenful = Math.max(1, screenRows - 1);
  const moves: Record<string, number> = {
    ArrowDown: index + 1,
    ArrowUp: index - 1,
    PageDown: index + screenful,
    PageUp: index - screenful,
    Home: 0,
    End: total - 1,
  };
  if (!Object.hasOwn(moves, event.key)) return null;
  return Math.min(Math.max(moves[event.key], 0), total - 1);
}
