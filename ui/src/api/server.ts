// The verify server: the commands behind the Server screen. Every function rejects with an
// `IpcError`, as in `./index`.

import type { ListenCheck } from '../bindings/ListenCheck';
import type { ServerStatus } from '../bindings/ServerStatus';
import { call } from './index';

export type { ListenCheck, ServerStatus };

/** The app's own server (with its counts) and servers in other processes on this database. */
export function serverStatus(): Promise<ServerStatus> {
  return call<ServerStatus>('server_status');
}

/**
 * Where a server would listen for `listen` as typed (empty: the default), the problem with it,
 * and the warning to show first when other machines could reach it. Always an answer.
 */
export function checkListen(listen: string): Promise<ListenCheck> {
  return call<ListenCheck>('check_listen', { listen });
}

/**
 * Starts a server in the app on the open database. An address other machines can reach is
 * refused (`invalid_input`) unless `allowExposed`, sent only after the warning was shown.
 */
export function startServer(listen: string, allowExposed = false): Promise<ServerStatus> {
  return call<ServerStatus>('start_server', { listen, allowExposed });
}

/** Stops the app's server; requests in flight finish first. */
export function stopServer(): Promise<ServerStatus> {
  return call<ServerStatus>('stop_server');
}
