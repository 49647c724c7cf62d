// The only module that talks to the Rust backend (Tauri `invoke`) or the clipboard plugin.
// Every function rejects with an `IpcError` (`{ kind, message }`), never anything else.

import { invoke } from '@tauri-apps/api/core';
import { writeText } from '@tauri-apps/plugin-clipboard-manager';
import type { AppInfo } from '../bindings/AppInfo';
import type { CreatedKey } from '../bindings/CreatedKey';
import type { ErrorKind } from '../bindings/ErrorKind';
import type { IpcError } from '../bindings/IpcError';
import type { KeyPage } from '../bindings/KeyPage';
import type { KeySummary } from '../bindings/KeySummary';
import type { ListQuery } from '../bindings/ListQuery';
import type { NameCheck } from '../bindings/NameCheck';
import type { NewKey } from '../bindings/NewKey';
import type { RevokeOutcome } from '../bindings/RevokeOutcome';
import type { AuditEvent } from '../bindings/AuditEvent';
import type { AuditPage } from '../bindings/AuditPage';
import type { AuditQuery } from '../bindings/AuditQuery';
import type { ExportFormat } from '../bindings/ExportFormat';
import type { ExportResult } from '../bindings/ExportResult';
import type { KeyUpdate } from '../bindings/KeyUpdate';
import type { Owner } from '../bindings/Owner';
import type { Settings } from '../bindings/Settings';
import { ERROR_KINDS, MAX_PAGE_SIZE } from '../bindings/rules';

export type { IpcError, NameCheck };

/** The page size the list asks for, and the most the backend allows: from the Rust rules. */
export { MAX_PAGE_SIZE, PAGE_SIZE } from '../bindings/rules';

const FALLBACK_MESSAGE = 'Something went wrong. Nothing was changed; try again.';

/** Turns whatever a failed call rejected with into an `IpcError`. */
export function toIpcError(error: unknown): IpcError {
  if (typeof error === 'object' && error !== null) {
    const { kind, message } = error as { kind?: unknown; message?: unknown };
    if (
      typeof kind === 'string' &&
      (ERROR_KINDS as readonly string[]).includes(kind) &&
      typeof message === 'string'
    ) {
      return { kind: kind as ErrorKind, message };
    }
    if (typeof message === 'string' && message.trim() !== '') {
      return { kind: 'internal', message };
    }
  }
  if (typeof error === 'string' && error.trim() !== '') {
    return { kind: 'internal', message: error };
  }
  return { kind: 'internal', message: FALLBACK_MESSAGE };
}

/** When each command was first called and answered (ms since the page began), for the start-up probe. */
type FirstCall = { sent: number; answered: number | null };
const firstCalls = new Map<string, FirstCall>();

/** Calls a command; a failure rejects with an `IpcError`. For the other modules in src/api/. */
export async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  const first: FirstCall | null = firstCalls.has(command)
    ? null
    : { sent: performance.now(), answered: null };
  if (first) firstCalls.set(command, first);
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toIpcError(error);
  } finally {
    if (first) first.answered = performance.now();
  }
}

export function appInfo(): Promise<AppInfo> {
  // With the first page inside, this answer is what puts the list on screen.
  return call<AppInfo>('app_info').then((info) => (info.first_page ? reportReadyOnce(info) : info));
}

/** Quits Keyward (the backend clears a copied key from the clipboard first). */
export function quitApp(): Promise<void> {
  return call<void>('quit_app');
}

/** Tells the backend whether a new key is on screen, so closing the window asks first. */
export function setSecretOnScreen(shown: boolean): Promise<void> {
  return call<void>('secret_on_screen', { shown });
}

export function listKeys(query: ListQuery): Promise<KeyPage> {
  const limit = Math.min(Math.max(query.limit, 1), MAX_PAGE_SIZE);
  return call<KeyPage>('list_keys', { query: { ...query, limit } }).then(reportReadyOnce);
}

/**
 * The core's answer about a key name: the problem it would refuse it for (its own words, or
 * `null`), the form it would be stored in, its length in that form, and the most allowed. A name
 * with a problem is an answer, not a rejection.
 */
export function checkName(name: string): Promise<NameCheck> {
  return call<NameCheck>('check_name', { name });
}

/**
 * For a field checked as it is typed. Returns `ask`: call it with each new text; `onanswer` gets
 * the answer and the text it is for, but only for the latest text asked about. An answer to an
 * earlier text that arrives later is dropped, as is a failed check (the last answer stands; the
 * form's own call reports real errors).
 */
export function latestAnswer<T>(
  check: (text: string) => Promise<T>,
  onanswer: (answer: T, text: string) => void,
): (text: string) => void {
  let latest = 0;
  return (text) => {
    latest += 1;
    const ticket = latest;
    check(text).then(
      (answer) => {
        if (ticket === latest) onanswer(answer, text);
      },
      () => undefined,
    );
  };
}

export function createKey(input: NewKey): Promise<CreatedKey> {
  return call<CreatedKey>('create_key', { input });
}

export function getKey(id: string): Promise<KeySummary> {
  return call<KeySummary>('get_key', { id });
}

export function revokeKeys(ids: string[]): Promise<RevokeOutcome> {
  return call<RevokeOutcome>('revoke_keys', { ids });
}

export function deleteKeys(ids: string[]): Promise<number> {
  return call<number>('delete_keys', { ids });
}

/**
 * Puts a new key on the clipboard, then tells the backend so it clears the clipboard after
 * `clipboard_clear_seconds` (if it still holds the key).
 */
export async function copySecret(token: string): Promise<void> {
  try {
    await writeText(token);
  } catch (error) {
    const { message } = toIpcError(error);
    throw { kind: 'internal', message: `The key could not be copied: ${message}` } satisfies IpcError;
  }
  await call<null>('clipboard_copied');
}

export function updateKey(id: string, update: KeyUpdate): Promise<KeySummary> {
  return call<KeySummary>('update_key', { id, update });
}

/** One key's audit history, oldest first. */
export function keyHistory(id: string): Promise<AuditEvent[]> {
  return call<AuditEvent[]>('key_history', { id });
}

export function listOwners(): Promise<Owner[]> {
  return call<Owner[]>('list_owners');
}

export function createOwner(name: string): Promise<Owner> {
  return call<Owner>('create_owner', { name });
}

export function renameOwner(from: string, to: string): Promise<Owner> {
  return call<Owner>('rename_owner', { from, to });
}

export function getSettings(): Promise<Settings> {
  return call<Settings>('get_settings');
}

export function updateSettings(settings: Settings): Promise<Settings> {
  return call<Settings>('update_settings', { settings });
}

export function auditPage(query: AuditQuery): Promise<AuditPage> {
  return call<AuditPage>('audit_page', { query });
}

/**
 * Asks where to save (the backend opens the save dialog), then writes the audit events matching
 * `query` there. Resolves to `null` when the user cancels, else to the path and the number of
 * events written.
 */
export function exportAudit(query: AuditQuery, format: ExportFormat): Promise<ExportResult | null> {
  return call<ExportResult | null>('export_audit', { query, format });
}

let readyReported = false;

/**
 * Tells the backend, once, that the first page of keys is on screen: `scripts/bench-startup` times
 * a launch up to this point. After two animation frames the frame showing the list has been
 * painted. Outside the benchmark the backend ignores the call.
 */
function reportReadyOnce<T>(page: T): T {
  if (!readyReported) {
    readyReported = true;
    requestAnimationFrame(() => {
      // The frame that renders the first page starts here; the next one starts once it is painted.
      const rendering = performance.now();
      requestAnimationFrame(() => {
        // When the document and its script had loaded: the rest of pageMs is data and rendering.
        const [navigation] = (performance.getEntriesByType?.('navigation') ??
          []) as PerformanceNavigationTiming[];
        const domMs = navigation?.domContentLoadedEventEnd ?? 0;
        const calls = [...firstCalls].map(
          ([command, t]) => `${command}=${t.sent.toFixed(0)}-${t.answered?.toFixed(0) ?? 'pending'}`,
        );
        const steps = [...calls, `frame=${rendering.toFixed(0)}`].join(',');
        call<null>('app_ready', { pageMs: performance.now(), domMs, steps }).catch(() => undefined);
      });
    });
  }
  return page;
}
