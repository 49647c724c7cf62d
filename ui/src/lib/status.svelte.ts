// App-wide error state: a database that cannot be used (full-screen view) and a dismissible
// banner for unexpected failures.

import type { IpcError } from '../bindings/IpcError';

export const appStatus = $state<{ fatal: string | null; banner: string | null }>({
  fatal: null,
  banner: null,
});

/** Shows an error where it belongs: full screen for an unusable database, else the banner. */
export function reportError(error: IpcError): void {
  if (error.kind === 'database_unavailable') {
    appStatus.fatal = error.message;
  } else {
    appStatus.banner = error.message;
  }
}

export function dismissBanner(): void {
  appStatus.banner = null;
}

export function resetStatus(): void {
  appStatus.fatal = null;
  appStatus.banner = null;
}
