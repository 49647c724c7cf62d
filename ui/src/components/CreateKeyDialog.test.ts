import { mockIPC } from '@tauri-apps/api/mocks';
import { render, screen, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { NewKey } from '../bindings/NewKey';
import { endOfLocalDay, tomorrow } from '../lib/expiry';
import { makeKey, TOKEN } from '../test/fixtures';
import CreateKeyDialog from './CreateKeyDialog.svelte';

function setup() {
  const sent: NewKey[] = [];
  mockIPC((cmd, args) => {
    if (cmd !== 'create_key') throw new Error(`unexpected ${cmd}`);
    const input = (args as { input: NewKey }).input;
    sent.push(input);
    return { key: makeKey({ name: input.name }), token: TOKEN };
  });
  const oncancel = vi.fn();
  const oncreated = vi.fn();
  render(CreateKeyDialog, { props: { oncancel, oncreated } });
  return { sent, oncancel, oncreated, user: userEvent.setup() };
}

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}

describe('CreateKeyDialog', () => {
  it('is a labelled modal with the name field focused', () => {
    setup();
    const dialog = screen.getByRole('dialog', { name: 'Create API key' });
    expect(dialog).toHaveAttribute('id', 'create-dialog');
    expect(dialog).toHaveAttribute('aria-modal', 'true');
    expect(byId('key-name-input')).toHaveFocus();
    expect(byId('expiry-select')).toHaveValue('90');
    expect(byId('create-submit-btn')).toBeDisabled();
  });

  it('validates the name as you type', async () => {
    const { user } = setup();
    const input = byId('key-name-input');
    await user.type(input, 'a');
    expect(document.getElementById('name-error')).toBeNull();
    expect(byId('name-counter')).toHaveTextContent('1 / 50');
    await user.clear(input);
    expect(byId('name-error')).toHaveTextContent('Give the key a name.');
    await user.type(input, 'x'.repeat(51));
    expect(byId('name-error')).toHaveTextContent('The name is 51 characters long; use at most 50.');
    expect(byId('create-submit-btn')).toBeDisabled();
    await user.clear(input);
    await user.type(input, 'pay\u202Eroll');
    expect(byId('name-error')).toHaveTextContent(/invisible or text-direction character/);
  });

  it('sends the chosen number of days and hands back the new key', async () => {
    const { user, sent, oncreated } = setup();
    await user.type(byId('key-name-input'), '  CI deploy  ');
    await user.selectOptions(byId('expiry-select'), '30');
    expect(byId('expiry-hint')).toHaveTextContent(/^Expires on /);
    await user.click(byId('create-submit-btn'));
    await waitFor(() => expect(oncreated).toHaveBeenCalledOnce());
    expect(sent).toEqual([{ name: 'CI deploy', expiry: { kind: 'days', value: 30 } }]);
    expect(oncreated.mock.calls[0][0].token).toBe(TOKEN);
  });

  it('warns about keys that never expire and submits with Enter', async () => {
    const { user, sent } = setup();
    expect(document.getElementById('never-warning')).toBeNull();
    await user.selectOptions(byId('expiry-select'), 'never');
    expect(byId('never-warning')).toHaveTextContent(/stay valid until someone revokes them/);
    await user.type(byId('key-name-input'), 'Forever{Enter}');
    await waitFor(() => expect(sent).toEqual([{ name: 'Forever', expiry: { kind: 'never' } }]));
  });

  it('sends the end of the chosen local day for a custom date', async () => {
    const { user, sent } = setup();
    await user.type(byId('key-name-input'), 'Until a date');
    await user.selectOptions(byId('expiry-select'), 'date');
    const date = byId('expiry-date-input') as HTMLInputElement;
    expect(date.min).toBe(tomorrow());
    expect(byId('create-submit-btn')).toBeDisabled();
    await user.type(date, '2099-12-31');
    await user.click(byId('create-submit-btn'));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0].expiry).toEqual({
      kind: 'until',
      value: endOfLocalDay('2099-12-31')?.toISOString(),
    });
    expect(sent[0].expiry).toEqual({ kind: 'until', value: new Date(2100, 0, 1).toISOString() });
  });

  it('shows a rejected name next to the field and keeps what was typed', async () => {
    mockIPC(() => {
      throw { kind: 'invalid_input', message: 'The name is not allowed by the server.' };
    });
    const oncreated = vi.fn();
    render(CreateKeyDialog, { props: { oncancel: vi.fn(), oncreated } });
    const user = userEvent.setup();
    await user.type(byId('key-name-input'), 'Billing');
    await user.click(byId('create-submit-btn'));
    await waitFor(() =>
      expect(byId('name-error')).toHaveTextContent('The name is not allowed by the server.'),
    );
    expect(byId('key-name-input')).toHaveValue('Billing');
    expect(byId('create-dialog')).toBeInTheDocument();
    expect(oncreated).not.toHaveBeenCalled();
  });

  it('cancels with Escape', async () => {
    const { user, oncancel, sent } = setup();
    await user.type(byId('key-name-input'), 'Half typed');
    await user.keyboard('{Escape}');
    expect(oncancel).toHaveBeenCalledOnce();
    expect(sent).toHaveLength(0);
  });
});
