import { toIpcError, type IpcError } from '../api';

/**
 * The busy flag and error handling shared by the confirm dialogs (revoke, delete, and
 * their bulk forms): `run` ignores repeat clicks while the call is under way and hands a
 * failure to `onerror`, re-enabling the dialog; `cancel` is ignored while busy.
 */
export function confirmAction(
  action: () => Promise<void>,
  onerror: (error: IpcError) => void,
  oncancel: () => void,
) {
  let busy = $state(false);
  return {
    get busy() {
      return busy;
    },
    async run() {
      if (busy) return;
      busy = true;
      try {
        await action();
      } catch (raw) {
        busy = false;
        onerror(toIpcError(raw));
      }
    },
    cancel() {
      if (!busy) oncancel();
    },
  };
}
