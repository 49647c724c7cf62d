// The Keys screen's tests share this: a stand-in for the backend's key commands, and ways to
// find and scroll the rows of the virtual list in a test DOM (which has no layout).

import { mockIPC } from '@tauri-apps/api/mocks';
import type { AuditEvent } from '../../bindings/AuditEvent';
import type { KeySummary } from '../../bindings/KeySummary';
import type { KeyUpdate } from '../../bindings/KeyUpdate';
import type { ListQuery } from '../../bindings/ListQuery';
import type { Owner } from '../../bindings/Owner';
import { makeKey, UNLIMITED } from '../../test/fixtures';

/**
 * The total as the core reports it (`ListRequest::counted_up_to`): a search counts its matches
 * only up to the next thousand past the page asked for, and says when there are more.
 */
export function counted(matches: number, query: ListQuery): { total: number; total_exact: boolean } {
  if (query.search === null) return { total: matches, total_exact: true };
  const cap = (Math.floor((query.offset + query.limit) / 1000) + 1) * 1000;
  return matches > cap ? { total: cap, total_exact: false } : { total: matches, total_exact: true };
}

export function backend(initial: KeySummary[], owners: Owner[] = []) {
  const keys = [...initial];
  const queries: ListQuery[] = [];
  // While set, list_keys answers only once it resolves: shows what the list does meanwhile.
  const gate: { held: Promise<void> | null } = { held: null };
  const calls: [string, Record<string, unknown>][] = [];
  const history: AuditEvent[] = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push([cmd, args]);
    switch (cmd) {
      case 'list_keys': {
        const query = args.query as ListQuery;
        queries.push(query);
        const answer = () => {
          const matching = keys.filter(
            (k) =>
              (query.owner === null || k.owner === query.owner) &&
              (query.search === null || k.name.toLowerCase().includes(query.search.toLowerCase())),
          );
          const page = matching.slice(query.offset, query.offset + query.limit);
          return { keys: structuredClone(page), ...counted(matching.length, query), offset: query.offset };
        };
        return gate.held ? gate.held.then(answer) : answer();
      }
      case 'list_owners':
        return owners;
      case 'list_plans':
        return [UNLIMITED];
      case 'get_settings':
        return {
          default_expiry_days: 90,
          clipboard_clear_seconds: 30,
          key_prefix: 'kw',
          owner_key_limit: 5,
          scope_catalogue: ['read', 'write'],
        };
      case 'get_key':
        return keys.find((k) => k.id === args.id);
      case 'check_name': {
        // Stands in for the core's check_name (tested in Rust): it stores names with runs of
        // spaces as one and the ends trimmed, and refuses a blank one.
        const stored = (args.name as string).trim().replace(/\s+/g, ' ');
        const problem = stored === '' ? 'Give the key a name.' : null;
        return { problem, name: stored, length: [...stored].length, max: 50 };
      }
      case 'key_history':
        return history;
      case 'update_key': {
        const key = keys.find((k) => k.id === args.id) as KeySummary;
        const update = args.update as KeyUpdate;
        if (update.owner !== null) {
          history.push({
            seq: 2,
            at: '2025-03-05T10:00:00Z',
            actor: 'root',
            action: 'key_updated',
            key_id: key.id,
            details: JSON.stringify({ owner: { from: key.owner, to: update.owner } }),
          });
          key.owner = update.owner;
        }
        if (update.name !== null) key.name = update.name;
        return key;
      }
      case 'revoke_keys': {
        const ids = args.ids as string[];
        for (const key of keys) if (ids.includes(key.id)) key.status = 'revoked';
        return { revoked: ids, already_revoked: [] };
      }
      case 'delete_keys': {
        const ids = args.ids as string[];
        const before = keys.length;
        keys.splice(0, keys.length, ...keys.filter((k) => !ids.includes(k.id)));
        return before - keys.length;
      }
      default:
        return null;
    }
  });
  history.push({
    seq: 1,
    at: '2025-03-04T10:20:00Z',
    actor: 'root',
    action: 'key_created',
    key_id: initial[0]?.id ?? null,
    details: '{"owner":"Alice"}',
  });
  return { keys, queries, calls, gate };
}

export function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element;
}
export const rows = () => [...document.querySelectorAll<HTMLElement>('tbody tr[data-key-id]')];
export const placeholders = () => document.querySelectorAll('tbody tr.loading-row');
export const row = (index: number) => document.querySelector<HTMLElement>(`tr[data-key-id][data-row="${index}"]`);
/** KeysView's row height. */
export const ROW_HEIGHT = 52;

/** The list's scroll container, given a height (a test DOM has no layout), scrolled to `row`. */
export function scrollTo(index: number, height = 520): HTMLElement {
  const list = document.querySelector('.table-wrap') as HTMLElement;
  Object.defineProperty(list, 'clientHeight', { configurable: true, value: height });
  list.scrollTop = index * ROW_HEIGHT;
  list.dispatchEvent(new Event('scroll'));
  return list;
}

export const manyKeys = (count: number) => Array.from({ length: count }, (_, i) => makeKey({ name: `Key #${i}` }));
export const owner = (name: string, active_keys: number): Owner => ({
  name,
  created_at: '2025-03-04T10:20:00Z',
  active_keys,
  total_keys: active_keys,
});
