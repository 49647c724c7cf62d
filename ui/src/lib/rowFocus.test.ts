import { describe, expect, it } from 'vitest';
import { controlIn, controlOf, keyRowAt, rowAfterKey, type MoveKey } from './rowFocus';

const press = (key: string, modifiers: Partial<MoveKey> = {}): MoveKey => ({
  key,
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  ...modifiers,
});

describe('rowAfterKey', () => {
  // 1,000 rows, 10 on screen.
  const move = (key: string, from: number, modifiers: Partial<MoveKey> = {}) =>
    rowAfterKey(press(key, modifiers), from, 1_000, 10);

  it('moves one row with the arrows and a screenful less one with the page keys', () => {
    expect(move('ArrowDown', 5)).toBe(6);
    expect(move('ArrowUp', 5)).toBe(4);
    expect(move('PageDown', 5)).toBe(14);
    expect(move('PageUp', 50)).toBe(41);
  });

  it('goes to the first and the last row with Home and End', () => {
    expect(move('Home', 500)).toBe(0);
    expect(move('End', 5)).toBe(999);
  });

  it('stays within the list', () => {
    expect(move('ArrowUp', 0)).toBe(0);
    expect(move('PageUp', 3)).toBe(0);
    expect(move('ArrowDown', 999)).toBe(999);
    expect(move('PageDown', 995)).toBe(999);
  });

  it('moves at least one row a page, however few rows are on screen', () => {
    expect(rowAfterKey(press('PageDown'), 5, 1_000, 1)).toBe(6);
    expect(rowAfterKey(press('PageDown'), 5, 1_000, 0)).toBe(6);
  });

  it('leaves other keys, keys with a modifier and an empty list to the browser', () => {
    expect(move('a', 5)).toBeNull();
    expect(move('Enter', 5)).toBeNull();
    expect(move('toString', 5)).toBeNull();
    expect(move('ArrowDown', 5, { shiftKey: true })).toBeNull();
    expect(move('End', 5, { ctrlKey: true })).toBeNull();
    expect(move('Home', 5, { altKey: true })).toBeNull();
    expect(move('ArrowUp', 5, { metaKey: true })).toBeNull();
    expect(rowAfterKey(press('ArrowDown'), 0, 0, 10)).toBeNull();
  });
});

describe('the control to focus in another row', () => {
  function keyRow(index: number, revokeDisabled = false): HTMLElement {
    const table = document.createElement('table');
    table.innerHTML = `<tbody><tr data-key-id="k${index}" data-row="${index}">
      <td><input type="checkbox" class="row-select"></td>
      <td><button class="name key-name-link">Key</button></td>
      <td><button data-action="revoke" ${revokeDisabled ? 'disabled' : ''}>Revoke</button>
          <button data-action="delete">Delete</button></td>
    </tr></tbody>`;
    document.body.replaceChildren(table);
    return table.querySelector('tr') as HTMLElement;
  }

  it('is the same kind: the checkbox, the name or the same action', () => {
    const row = keyRow(3);
    const kind = (selector: string) => controlOf(row.querySelector(selector) as HTMLElement);
    expect(kind('input.row-select')).toBe('input.row-select');
    expect(kind('button.key-name-link')).toBe('button.key-name-link');
    expect(kind('[data-action="delete"]')).toBe('button[data-action="delete"]');
    expect(controlIn(row, kind('[data-action="delete"]'))).toHaveTextContent('Delete');
  });

  it('falls back to the name when the row lacks that control or it is disabled', () => {
    const row = keyRow(4, true);
    expect(controlIn(row, 'button[data-action="revoke"]')).toHaveTextContent('Key');
    expect(controlIn(row, 'button[data-action="rename"]')).toHaveTextContent('Key');
  });

  it('is found by the row number', () => {
    keyRow(7);
    expect(document.querySelector(keyRowAt(7))).not.toBeNull();
    expect(document.querySelector(keyRowAt(8))).toBeNull();
  });
});
