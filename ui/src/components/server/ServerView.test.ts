import { mockIPC } from '@tauri-apps/api/mocks';
import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ListenCheck } from '../../bindings/ListenCheck';
import type { ServerStatus } from '../../bindings/ServerStatus';
import type { VerifyServer } from '../../bindings/VerifyServer';
import { appStatus } from '../../lib/status.svelte';
import { codesOf, curlExample, formatSince } from './format';
import ServerView from './ServerView.svelte';

const WARNING =
  'listening on 0.0.0.0:8787, which other machines can reach: keys travel in plain HTTP, so put the server behind TLS (a reverse proxy) or listen on 127.0.0.1';

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element as T;
}

function server(address: string, valid: number, extra: Partial<VerifyServer> = {}): VerifyServer {
  return {
    id: 'app',
    address,
    pid: 4242,
    started_at: new Date().toISOString(),
    last_seen: new Date().toISOString(),
    last_minute: { VALID: valid, REVOKED: 1 },
    since_start: { VALID: valid + 10, REVOKED: 1 },
    ...extra,
  };
}

function listenCheck(listen: string): ListenCheck {
  const text = listen.trim() === '' ? '127.0.0.1:8787' : listen.trim();
  if (!/^[\d.]+:\d+$/.test(text)) {
    return { address: null, problem: `“${text}” is not an address to listen on.`, warning: null };
  }
  return {
    address: text,
    problem: null,
    warning: text.startsWith('127.') ? null : WARNING.replace('0.0.0.0:8787', text),
  };
}

type Call = { cmd: string; args: Record<string, unknown> };

/** The server commands over an in-memory server; `fail` can refuse a command once. */
function backend(options: { others?: VerifyServer[]; fail?: Record<string, unknown> } = {}) {
  const calls: Call[] = [];
  const state = { running: null as VerifyServer | null, valid: 0 };
  const fail = { ...options.fail };
  const status = (): ServerStatus => ({
    running: state.running && { ...state.running, last_minute: { VALID: state.valid } },
    warning: state.running && !state.running.address.startsWith('127.') ? WARNING : null,
    others: options.others ?? [],
    default_listen: '127.0.0.1:8787',
  });
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    if (cmd in fail) {
      const error = fail[cmd];
      delete fail[cmd];
      throw error;
    }
    switch (cmd) {
      case 'server_status':
        return status();
      case 'check_listen':
        return listenCheck(args.listen as string);
      case 'start_server': {
        const check = listenCheck(args.listen as string);
        if (check.warning !== null && args.allowExposed !== true) {
          throw { kind: 'invalid_input', message: `Not started: ${check.warning}.` };
        }
        state.running = server(check.address ?? '', 0);
        return status();
      }
      case 'stop_server':
        state.running = null;
        return status();
      default:
        return null;
    }
  });
  return { calls, state, count: (cmd: string) => calls.filter((c) => c.cmd === cmd).length };
}

describe('ServerView', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts and stops the server with one click and shows its counts by code', async () => {
    const { calls, state } = backend();
    render(ServerView);
    const user = userEvent.setup();

    await waitFor(() => expect(byId('server-state')).toHaveTextContent('Not running'));
    expect(document.getElementById('server-counts')).toBeNull();
    expect(byId('server-curl')).toHaveTextContent('http://127.0.0.1:8787/v1/verify');
    expect(byId('server-hint')).toHaveTextContent('keyward:verify');

    await user.click(byId('server-toggle-btn'));
    await waitFor(() =>
      expect(byId('server-state')).toHaveTextContent(/Running at http:\/\/127\.0\.0\.1:8787 since \S+/),
    );
    expect(calls.find((c) => c.cmd === 'start_server')?.args).toEqual({ listen: '', allowExposed: false });
    expect(byId('server-toggle-btn')).toHaveTextContent('Stop server');
    // Every code has a row, counted or not.
    const rows = [...byId('server-counts').querySelectorAll('tbody tr')].map((r) => r.getAttribute('data-code'));
    expect(rows).toEqual([
      'VALID',
      'MALFORMED',
      'NOT_FOUND',
      'REVOKED',
      'EXPIRED',
      'FORBIDDEN',
      'RATE_LIMITED',
      'USAGE_EXCEEDED',
    ]);
    expect(byId('count-VALID')).toHaveTextContent('0');
    expect(byId('server-listen-input')).toBeDisabled();

    state.valid = 3;
    await user.click(byId('server-toggle-btn'));
    await waitFor(() => expect(byId('server-state')).toHaveTextContent('Not running'));
    expect(calls.filter((c) => c.cmd === 'stop_server')).toHaveLength(1);
    expect(byId('server-toggle-btn')).toHaveTextContent('Start server');
  });

  it('refreshes every few seconds while shown, not while hidden, and stops when left', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { state, count } = backend();
    state.running = server('127.0.0.1:8787', 0);
    const { unmount } = render(ServerView);
    await waitFor(() => expect(byId('count-VALID')).toHaveTextContent('0'));

    state.valid = 1234;
    await vi.advanceTimersByTimeAsync(3000);
    await waitFor(() => expect(byId('count-VALID')).toHaveTextContent('1,234'));

    // A hidden window is not polled; showing it again reads at once.
    const hidden = vi.spyOn(document, 'hidden', 'get').mockReturnValue(true);
    const before = count('server_status');
    await vi.advanceTimersByTimeAsync(9000);
    expect(count('server_status')).toBe(before);
    hidden.mockReturnValue(false);
    document.dispatchEvent(new Event('visibilitychange'));
    await waitFor(() => expect(count('server_status')).toBe(before + 1));

    unmount();
    const left = count('server_status');
    await vi.advanceTimersByTimeAsync(9000);
    expect(count('server_status')).toBe(left);
  });

  it('asks before listening where other machines can reach it', async () => {
    const { calls } = backend();
    render(ServerView);
    const user = userEvent.setup();
    await waitFor(() => expect(byId('server-state')).toHaveTextContent('Not running'));

    await user.click(byId('server-advanced'));
    await user.type(byId('server-listen-input'), 'my laptop');
    await waitFor(() => expect(byId('server-listen-help')).toHaveTextContent('is not an address'));
    expect(byId('server-listen-input')).toHaveAttribute('aria-invalid', 'true');
    expect(byId('server-toggle-btn')).toBeDisabled();

    await user.clear(byId('server-listen-input'));
    await user.type(byId('server-listen-input'), '0.0.0.0:8787');
    await waitFor(() => expect(byId('server-exposure-warning')).toHaveTextContent('behind TLS'));
    expect(byId('server-toggle-btn')).toBeDisabled();
    expect(byId('server-curl')).toHaveTextContent('http://127.0.0.1:8787/v1/verify');

    await user.click(byId('server-exposure-accept'));
    expect(byId('server-toggle-btn')).toBeEnabled();
    await user.click(byId('server-toggle-btn'));
    await waitFor(() => expect(byId('server-running-warning')).toHaveTextContent('behind TLS'));
    expect(calls.find((c) => c.cmd === 'start_server')?.args).toEqual({
      listen: '0.0.0.0:8787',
      allowExposed: true,
    });

    // Changing the address again asks again.
    await user.click(byId('server-toggle-btn'));
    await waitFor(() => expect(byId('server-listen-input')).toBeEnabled());
    await user.type(byId('server-listen-input'), '0');
    await waitFor(() => expect(byId('server-exposure-accept')).not.toBeChecked());
    expect(byId('server-toggle-btn')).toBeDisabled();
  });

  it('says why a start failed next to the address, and can be used from the keyboard', async () => {
    const message =
      'Could not listen on 127.0.0.1:8787: port 8787 is already in use there (another Keyward server, or another program). Stop it, or choose another port.';
    backend({ fail: { start_server: { kind: 'invalid_input', message } } });
    render(ServerView);
    const user = userEvent.setup();
    await waitFor(() => expect(byId('server-state')).toHaveTextContent('Not running'));

    byId('server-toggle-btn').focus();
    await user.keyboard('{Enter}');
    await waitFor(() => expect(byId('server-action-error')).toHaveTextContent('already in use'));
    expect(byId('server-toggle-btn')).toHaveAttribute('aria-describedby', 'server-action-error');
    expect(byId<HTMLDetailsElement>('server-advanced').closest('details')?.open).toBe(true);
    expect(document.activeElement).toBe(byId('server-toggle-btn'));
    expect(appStatus.banner).toBeNull();

    // Another port, typed and started with Enter from the field.
    await user.click(byId('server-listen-input'));
    await user.keyboard('127.0.0.1:9000{Enter}');
    await waitFor(() => expect(byId('server-state')).toHaveTextContent('Running at http://127.0.0.1:9000'));
    expect(document.getElementById('server-action-error')).toBeNull();
    expect(byId('server-curl')).toHaveTextContent('http://127.0.0.1:9000/v1/verify');
  });

  it('shows a status that cannot be read, with a retry, and unexpected failures in the banner', async () => {
    const { calls } = backend({
      fail: {
        server_status: { kind: 'internal', message: 'The database is busy; try again.' },
        stop_server: { kind: 'internal', message: 'Something went wrong.' },
      },
    });
    render(ServerView);
    const user = userEvent.setup();
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent('The database is busy'));
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(byId('server-state')).toHaveTextContent('Not running'));

    await user.click(byId('server-toggle-btn'));
    await waitFor(() => expect(byId('server-toggle-btn')).toHaveTextContent('Stop server'));
    await user.click(byId('server-toggle-btn'));
    await waitFor(() => expect(appStatus.banner).toBe('Something went wrong.'));
    expect(calls.filter((c) => c.cmd === 'stop_server')).toHaveLength(1);
  });

  it('lists servers in other processes, read-only, and says so when there are none', async () => {
    backend({
      others: [
        server('127.0.0.1:9999', 7, { id: 'srv_cli', pid: 777 }),
        server('0.0.0.0:8080', 0, { id: 'srv_unit', pid: 888, last_minute: {} }),
      ],
    });
    render(ServerView);
    const table = await waitFor(() => byId('other-servers'));
    const rows = table.querySelectorAll('tbody tr');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent('http://127.0.0.1:9999');
    expect(rows[0]).toHaveTextContent('777');
    expect(rows[0]).toHaveTextContent('VALID 7');
    expect(rows[0]).toHaveTextContent('REVOKED 1');
    expect(rows[1]).toHaveTextContent('none');
    expect(within(table).queryAllByRole('button')).toHaveLength(0);
    expect(byId('server-state')).toHaveTextContent('Not running');
  });

  it('says when no other server runs', async () => {
    backend();
    render(ServerView);
    await waitFor(() => expect(byId('no-other-servers')).toHaveTextContent('keyward-cli serve'));
  });
});

describe('server format', () => {
  it('lists the known codes first, then any other', () => {
    expect(codesOf({ VALID: 1, ZZZ: 2 }, { AAA: 1, ZZZ: 3 }).slice(-3)).toEqual(['USAGE_EXCEEDED', 'AAA', 'ZZZ']);
  });

  it('shows the clock alone for today and the date otherwise', () => {
    const now = new Date(2025, 5, 2, 15, 0);
    const today = formatSince(new Date(2025, 5, 2, 14, 2).toISOString(), now);
    const earlier = formatSince(new Date(2025, 4, 30, 14, 2).toISOString(), now);
    expect(today).not.toMatch(/2025/);
    expect(earlier).toMatch(/2025/);
  });

  it('gives a curl command a service can run, with a reachable address', () => {
    expect(curlExample('0.0.0.0:8787')).toContain('http://127.0.0.1:8787/v1/verify');
    expect(curlExample('127.0.0.1:9000')).toContain("-d '{\"key\":\"KEY_TO_CHECK\"}'");
  });
});
