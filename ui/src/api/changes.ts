// Live updates: the command the app polls to notice changes others commit. Rejects with an
// `IpcError`, as everything in `./index`.

import { call } from './index';

/**
 * A number that changes whenever anyone commits a change to the keys, owners, plans or settings
 * (another administrator, the CLI, this window); `null` when the database cannot tell.
 */
export function changeCounter(): Promise<number | null> {
  return call<number | null>('change_counter');
}
