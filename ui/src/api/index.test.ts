import { mockIPC } from '@tauri-apps/api/mocks';
import { describe, expect, it } from 'vitest';
import type { NewKey } from '../bindings/NewKey';
import { checkName, copySecret, createKey, latestAnswer, listKeys, toIpcError } from './index';

const NEW_KEY: NewKey = {
  name: 'x',
  owner: null,
  role: 'standard',
  scopes: [],
  track_usage: true,
  expiry: { kind: 'never' },
  override_limit: false,
};

describe('api wrapper', () => {
  it('sends list_keys its query and caps the page size', async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return { keys: [], total: 0, offset: 0 };
    });
    await listKeys({
      search: 'ci',
      status: 'active',
      owner: null,
      role: null,
      expiring_within_days: null,
      sort: 'created',
      descending: true,
      offset: 50,
      limit: 1000,
    });
    expect(calls).toEqual([
      [
        'list_keys',
        {
          query: {
            search: 'ci',
            status: 'active',
            owner: null,
            role: null,
            expiring_within_days: null,
            sort: 'created',
            descending: true,
            offset: 50,
            limit: 200,
          },
        },
      ],
    ]);
  });

  it('passes backend errors through and normalises anything else', async () => {
    mockIPC(() => {
      throw { kind: 'invalid_input', message: 'Give the key a name.' };
    });
    await expect(createKey({ ...NEW_KEY, name: '' })).rejects.toEqual({
      kind: 'invalid_input',
      message: 'Give the key a name.',
    });

    mockIPC(() => {
      throw 'command create_key not allowed';
    });
    await expect(createKey({ ...NEW_KEY, name: 'x' })).rejects.toEqual({
      kind: 'internal',
      message: 'command create_key not allowed',
    });

    expect(toIpcError({ kind: 'read_only', message: 'Read-only.' })).toEqual({
      kind: 'read_only',
      message: 'Read-only.',
    });
    expect(toIpcError({ kind: 'weird', message: 1 }).kind).toBe('internal');
    expect(toIpcError(undefined).message).toMatch(/Something went wrong/);
  });

  it('writes the key to the clipboard, then tells the backend', async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    await copySecret('kw_abc_secret');
    expect(calls.map(([cmd]) => cmd)).toEqual([
      'plugin:clipboard-manager|write_text',
      'clipboard_copied',
    ]);
    expect(calls[0][1]).toMatchObject({ text: 'kw_abc_secret' });
  });

  it('does not report the copy to the backend when writing failed', async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      if (cmd.startsWith('plugin:clipboard-manager')) throw 'no clipboard';
      return null;
    });
    await expect(copySecret('kw_abc_secret')).rejects.toMatchObject({ kind: 'internal' });
    expect(calls).not.toContain('clipboard_copied');
  });

  it('asks the core about a name with check_name', async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return { problem: null, name: 'ci', length: 2, max: 50 };
    });
    await expect(checkName(' ci ')).resolves.toEqual({ problem: null, name: 'ci', length: 2, max: 50 });
    expect(calls).toEqual([['check_name', { name: ' ci ' }]]);
  });

  it('delivers only the answer about the latest text', async () => {
    const pending = new Map<string, { resolve: (v: string) => void; reject: (e: unknown) => void }>();
    const check = (text: string) =>
      new Promise<string>((resolve, reject) => pending.set(text, { resolve, reject }));
    const answers: [string, string][] = [];
    const ask = latestAnswer(check, (answer, text) => answers.push([answer, text]));
    ask('a');
    ask('ab');
    pending.get('ab')?.resolve('answer ab');
    pending.get('a')?.resolve('answer a');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(answers).toEqual([['answer ab', 'ab']]);
    ask('abc');
    pending.get('abc')?.reject({ kind: 'internal', message: 'gone' });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(answers).toEqual([['answer ab', 'ab']]);
  });
});
