import { mockIPC } from '@tauri-apps/api/mocks';
import { render, screen, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { makeKey, SECRET_PART, TOKEN } from '../../test/fixtures';
import SecretDialog from './SecretDialog.svelte';

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}

function setup(handler: (cmd: string) => unknown = () => null) {
  const calls: string[] = [];
  mockIPC((cmd) => {
    calls.push(cmd);
    return handler(cmd);
  });
  const onclose = vi.fn();
  render(SecretDialog, {
    props: { token: TOKEN, key: makeKey({ name: 'CI deploy' }), clearSeconds: 45, onclose },
  });
  return { calls, onclose, user: userEvent.setup() };
}

describe('SecretDialog', () => {
  it('masks the secret part until the user reveals it', async () => {
    const { user } = setup();
    expect(screen.getByRole('dialog', { name: 'Copy your new key' })).toHaveAttribute(
      'id',
      'secret-dialog',
    );
    const value = byId('secret-value');
    const toggle = byId('reveal-toggle-btn');
    expect(value.textContent).toMatch(/^kw_3fJk9QzP0a_•+…$/);
    expect(value.textContent).not.toContain(SECRET_PART.slice(0, 6));
    expect(toggle).toHaveTextContent('Show');
    expect(toggle).toHaveAttribute('aria-pressed', 'false');

    await user.click(toggle);
    expect(value).toHaveTextContent(TOKEN);
    expect(toggle).toHaveTextContent('Hide');
    expect(toggle).toHaveAttribute('aria-pressed', 'true');

    await user.click(toggle);
    expect(value.textContent).not.toContain(SECRET_PART.slice(0, 6));
  });

  it('copies the full key and says when the clipboard is cleared', async () => {
    const { user, calls } = setup();
    await user.click(byId('copy-btn'));
    await waitFor(() => expect(byId('copy-btn')).toHaveTextContent('Copied'));
    // The backend first hears that a key is on screen (closing the window then asks).
    expect(calls).toEqual(['secret_on_screen', 'plugin:clipboard-manager|write_text', 'clipboard_copied']);
    expect(byId('copy-note')).toHaveTextContent('The clipboard is cleared in 45 seconds.');
  });

  it('shows an error when copying fails', async () => {
    const { user } = setup((cmd) => {
      if (cmd.startsWith('plugin:')) throw 'clipboard unavailable';
      return null;
    });
    await user.click(byId('copy-btn'));
    await waitFor(() => expect(byId('copy-error')).toHaveTextContent(/could not be copied/));
    expect(byId('copy-btn')).toHaveTextContent('Copy');
  });

  it('asks for confirmation before closing, from Done and from Escape', async () => {
    const { user, onclose } = setup();
    expect(document.getElementById('secret-close-confirm')).toBeNull();

    await user.click(byId('secret-done-btn'));
    expect(byId('secret-close-confirm')).toHaveTextContent(
      "You won't see this key again. Have you copied it?",
    );
    expect(onclose).not.toHaveBeenCalled();
    await user.click(byId('secret-close-back-btn'));
    expect(document.getElementById('secret-close-confirm')).toBeNull();
    expect(onclose).not.toHaveBeenCalled();

    await user.keyboard('{Escape}');
    expect(byId('secret-close-confirm')).toBeInTheDocument();
    expect(onclose).not.toHaveBeenCalled();
    await user.click(byId('secret-close-confirm-btn'));
    expect(onclose).toHaveBeenCalledOnce();
  });
});
