import { mockIPC } from '@tauri-apps/api/mocks';
import { render, screen, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { NameCheck } from '../../bindings/NameCheck';
import type { NewKey } from '../../bindings/NewKey';
import type { Owner } from '../../bindings/Owner';
import type { Plan } from '../../bindings/Plan';
import type { Settings } from '../../bindings/Settings';
import { endOfLocalDay, tomorrow } from '../../lib/expiry';
import { ALL_ALLOWED, makeKey, TOKEN, UNLIMITED } from '../../test/fixtures';
import CreateKeyDialog from './CreateKeyDialog.svelte';

const SETTINGS: Settings = {
  default_expiry_days: 90,
  clipboard_clear_seconds: 30,
  key_prefix: 'kw',
  owner_key_limit: 5,
  scope_catalogue: ['read', 'write', 'admin'],
};

function owner(name: string, active_keys: number): Owner {
  return { name, created_at: '2025-03-04T10:20:00Z', active_keys, total_keys: active_keys };
}

const BASE: Omit<NewKey, 'name' | 'expiry'> = {
  owner: null,
  role: 'standard',
  scopes: [],
  track_usage: true,
  override_limit: false,
  plan: 'Unlimited',
};

const INVISIBLE = 'The name contains an invisible or text-direction character; remove it.';

/**
 * Stands in for the core's `check_name` (tested in Rust), with canned answers: a blank name, a
 * name over 50 characters, and one holding U+202E are refused in the core's words.
 */
function checkName(name: string): NameCheck {
  const stored = name.trim();
  const length = [...stored].length;
  let problem: string | null = null;
  if (stored === '') problem = 'Give the key a name.';
  else if (stored.includes('\u202E')) problem = INVISIBLE;
  else if (length > 50) problem = `The name is ${length} characters long; use at most 50.`;
  return { problem, name: stored, length, max: 50 };
}

interface Options {
  owners?: Owner[];
  settings?: Settings;
  plans?: Plan[];
  create?: (input: NewKey) => unknown;
  /** Answers check_name instead of `checkName` above (may return a promise). */
  check?: (name: string) => unknown;
}

function setup(options: Options = {}) {
  const sent: NewKey[] = [];
  const checked: string[] = [];
  mockIPC((cmd, args) => {
    if (cmd === 'get_settings') return options.settings ?? SETTINGS;
    if (cmd === 'list_owners') return options.owners ?? [owner('root', 2)];
    if (cmd === 'list_plans') return options.plans ?? [UNLIMITED];
    if (cmd === 'check_name') {
      const { name } = args as { name: string };
      checked.push(name);
      return options.check ? options.check(name) : checkName(name);
    }
    if (cmd !== 'create_key') throw new Error(`unexpected ${cmd}`);
    const input = (args as { input: NewKey }).input;
    sent.push(input);
    if (options.create) return options.create(input);
    return { key: makeKey({ name: input.name }), token: TOKEN };
  });
  const oncancel = vi.fn();
  const oncreated = vi.fn();
  render(CreateKeyDialog, { props: { currentUser: 'root', permissions: ALL_ALLOWED, oncancel, oncreated } });
  return { sent, checked, oncancel, oncreated, user: userEvent.setup() };
}

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}

/** Waits until owners and settings have loaded. */
async function ready() {
  await waitFor(() => expect(byId('owner-usage')).toBeInTheDocument());
}

describe('CreateKeyDialog', () => {
  it('is a labelled modal with the name field focused', async () => {
    setup();
    const dialog = screen.getByRole('dialog', { name: 'Create API key' });
    expect(dialog).toHaveAttribute('id', 'create-dialog');
    expect(dialog).toHaveAttribute('aria-modal', 'true');
    expect(byId('key-name-input')).toHaveFocus();
    await ready();
    expect(byId('expiry-select')).toHaveValue('90');
    expect(byId('create-submit-btn')).toBeDisabled();
    expect(byId('owner-select')).toHaveDisplayValue('root (you)');
    expect(byId('owner-usage')).toHaveTextContent('2 / 5 active');
    expect(byId('role-select')).toHaveValue('standard');
    expect(byId('track-usage-checkbox')).toBeChecked();
    expect(document.querySelectorAll('input[name="scope"]')).toHaveLength(3);
  });

  it('starts with the default expiry from the settings', async () => {
    setup({ settings: { ...SETTINGS, default_expiry_days: 30 } });
    await waitFor(() => expect(byId('expiry-select')).toHaveValue('30'));
  });

  it('asks the core about the name as you type and shows its answer', async () => {
    const { user, checked } = setup();
    await ready();
    const input = byId('key-name-input');
    await user.type(input, 'a');
    await waitFor(() => expect(byId('name-counter')).toHaveTextContent('1 / 50'));
    expect(document.getElementById('name-error')).toBeNull();
    expect(byId('create-submit-btn')).toBeEnabled();
    expect(checked).toEqual(['', 'a']);
    await user.clear(input);
    await waitFor(() => expect(byId('name-error')).toHaveTextContent('Give the key a name.'));
    expect(byId('create-submit-btn')).toBeDisabled();
    await user.type(input, 'x'.repeat(51));
    await waitFor(() =>
      expect(byId('name-error')).toHaveTextContent('The name is 51 characters long; use at most 50.'),
    );
    expect(byId('name-counter')).toHaveTextContent('51 / 50');
    expect(byId('name-counter')).toHaveClass('over');
    expect(byId('create-submit-btn')).toBeDisabled();
    await user.clear(input);
    await user.type(input, 'pay\u202Eroll');
    await waitFor(() => expect(byId('name-error')).toHaveTextContent(INVISIBLE));
    expect(byId('create-submit-btn')).toBeDisabled();
  });

  it('counts and shows what the core says, not what JavaScript would', async () => {
    // A Persian name with the ZERO WIDTH NON-JOINER it needs: the core accepts it.
    const persian = '\u0639\u0644\u06CC\u200C\u0631\u0636\u0627';
    const { user, sent } = setup({
      check: (name) => ({ problem: null, name, length: 7, max: 50 }),
    });
    await ready();
    await user.type(byId('key-name-input'), persian);
    await waitFor(() => expect(byId('name-counter')).toHaveTextContent('7 / 50'));
    expect(document.getElementById('name-error')).toBeNull();
    await user.click(byId('create-submit-btn'));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0].name).toBe(persian);
  });

  it('ignores an answer about an older text that arrives after a newer one', async () => {
    let releaseOld = () => {};
    const { user } = setup({
      check: (name) => {
        const answer = checkName(name);
        if (name !== 'ok') return answer;
        // "ok" is fine, but its answer arrives late, claiming a problem.
        return new Promise((resolve) => {
          releaseOld = () => resolve({ ...answer, problem: 'A stale answer.' });
        });
      },
    });
    await ready();
    const input = byId('key-name-input');
    await user.type(input, 'ok');
    await user.type(input, '!');
    await waitFor(() => expect(byId('name-counter')).toHaveTextContent('3 / 50'));
    releaseOld();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(document.getElementById('name-error')).toBeNull();
    expect(byId('name-counter')).toHaveTextContent('3 / 50');
    expect(byId('create-submit-btn')).toBeEnabled();
  });

  it('sends owner, role, scopes, usage tracking and expiry', async () => {
    const { user, sent, oncreated } = setup({ owners: [owner('root', 0), owner('Alice', 1)] });
    await ready();
    await user.type(byId('key-name-input'), 'CI deploy');
    await user.selectOptions(byId('owner-select'), 'Alice');
    expect(byId('owner-usage')).toHaveTextContent('1 / 5 active');
    await user.selectOptions(byId('role-select'), 'project');
    await user.click(document.querySelector('input[name="scope"][value="write"]') as HTMLElement);
    await user.click(document.querySelector('input[name="scope"][value="read"]') as HTMLElement);
    await user.click(byId('track-usage-checkbox'));
    await user.selectOptions(byId('expiry-select'), '30');
    expect(byId('expiry-hint')).toHaveTextContent(/^Expires on /);
    await user.click(byId('create-submit-btn'));
    await waitFor(() => expect(oncreated).toHaveBeenCalledOnce());
    expect(sent).toEqual([
      {
        name: 'CI deploy',
        owner: 'Alice',
        role: 'project',
        scopes: ['read', 'write'],
        track_usage: false,
        expiry: { kind: 'days', value: 30 },
        override_limit: false,
        plan: 'Unlimited',
      },
    ]);
    expect(oncreated.mock.calls[0][0].token).toBe(TOKEN);
  });

  it('starts on the default plan, shows its limits, and sends the plan chosen', async () => {
    const starter: Plan = {
      ...UNLIMITED,
      name: 'Starter',
      rate_per_second: 10,
      burst: 20,
      quota: { limit: 1000, per: 'day' },
      is_default: true,
    };
    const { user, sent } = setup({
      plans: [{ ...UNLIMITED, is_default: false }, starter],
    });
    await ready();
    const select = byId('plan-select');
    await waitFor(() => expect(select).toHaveValue('Starter'));
    expect(select).toHaveDisplayValue('Starter (default)');
    expect(byId('plan-help')).toHaveTextContent('10/s, burst 20 · 1,000 per day');
    await user.selectOptions(select, 'Unlimited');
    expect(byId('plan-help')).toHaveTextContent('No limits');
    await user.type(byId('key-name-input'), 'metered');
    await user.click(byId('create-submit-btn'));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0].plan).toBe('Unlimited');
  });

  it('shows a refused plan next to the plan select', async () => {
    const { user, oncreated } = setup({
      create: () => {
        throw {
          kind: 'invalid_input',
          message: 'There is no plan named "Unlimited". Choose one of the plans in Settings → Plans.',
        };
      },
    });
    await ready();
    await user.type(byId('key-name-input'), 'metered');
    await user.click(byId('create-submit-btn'));
    await waitFor(() => expect(byId('plan-error')).toHaveTextContent('There is no plan named'));
    expect(byId('plan-select')).toHaveAttribute('aria-invalid', 'true');
    expect(byId('plan-select')).toHaveFocus();
    expect(document.getElementById('name-error')).toBeNull();
    expect(oncreated).not.toHaveBeenCalled();
  });

  it('offers the current user even before they are an owner, and sends null for them', async () => {
    const { user, sent } = setup({ owners: [owner('Alice', 0)] });
    await ready();
    expect(byId('owner-select')).toHaveDisplayValue('root (you)');
    expect(byId('owner-usage')).toHaveTextContent('0 / 5 active');
    await user.type(byId('key-name-input'), 'Mine{Enter}');
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0].owner).toBeNull();
  });

  it('disables Create for an owner at the limit until the admin override is ticked', async () => {
    const { user, sent } = setup({ owners: [owner('root', 0), owner('Alice', 5)] });
    await ready();
    await user.type(byId('key-name-input'), 'One more');
    expect(document.getElementById('limit-reason')).toBeNull();
    await user.selectOptions(byId('owner-select'), 'Alice');
    expect(byId('limit-reason')).toHaveTextContent(
      'Alice has 5 of 5 active keys — revoke one first.',
    );
    expect(byId('create-submit-btn')).toBeDisabled();
    const override = byId('override-limit-checkbox');
    expect(override).not.toBeChecked();
    expect(override.closest('label')).toHaveTextContent(
      'Create anyway (admin override; recorded in the audit log)',
    );
    await user.click(override);
    expect(byId('create-submit-btn')).toBeEnabled();
    await user.click(byId('create-submit-btn'));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ owner: 'Alice', override_limit: true });
  });

  it('handles a limit_reached error from the backend the same way', async () => {
    let calls = 0;
    const { user, sent, oncreated } = setup({
      create: (input) => {
        calls += 1;
        if (!input.override_limit) {
          throw { kind: 'limit_reached', message: 'root has 5 of 5 active keys — revoke one first.' };
        }
        return { key: makeKey({ name: input.name }), token: TOKEN };
      },
    });
    await ready();
    await user.type(byId('key-name-input'), 'Race');
    await user.click(byId('create-submit-btn'));
    await waitFor(() =>
      expect(byId('limit-reason')).toHaveTextContent('root has 5 of 5 active keys — revoke one first.'),
    );
    expect(byId('create-submit-btn')).toBeDisabled();
    await user.click(byId('override-limit-checkbox'));
    await user.click(byId('create-submit-btn'));
    await waitFor(() => expect(oncreated).toHaveBeenCalledOnce());
    expect(calls).toBe(2);
    expect(sent[1].override_limit).toBe(true);
  });

  it('warns about keys that never expire and submits with Enter', async () => {
    const { user, sent } = setup();
    await ready();
    expect(document.getElementById('never-warning')).toBeNull();
    await user.selectOptions(byId('expiry-select'), 'never');
    expect(byId('never-warning')).toHaveTextContent(/stay valid until someone revokes them/);
    await user.type(byId('key-name-input'), 'Forever{Enter}');
    await waitFor(() =>
      expect(sent).toEqual([{ ...BASE, name: 'Forever', expiry: { kind: 'never' } }]),
    );
  });

  it('sends the end of the chosen local day for a custom date', async () => {
    const { user, sent } = setup();
    await ready();
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
    const { user, oncreated } = setup({
      create: () => {
        throw { kind: 'invalid_input', message: 'The name is not allowed by the server.' };
      },
    });
    await ready();
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
