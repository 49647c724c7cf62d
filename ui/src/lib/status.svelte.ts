// App-wide state: a database that cannot be used (full-screen view), a dismissible banner for
// unexpected failures, and whether the database is read-only (changes are disabled).

import type { IpcError } from '../bindings/IpcError';

export const appStatus = $state<{
  fatal: string | null;
  banner: string | null;
  readOnly: boolean;
  /** A new key's secret is on screen: quitting must ask first, as closing its dialog does. */
  secretOnScreen: boolean;
}>({
  fatal: null,
  banner: null,
  readOnly: false,
  secretOnScreen: false,
});

/** Ctrl+Q, the desktop's quit shortcut (not with Shift or Alt, which other shortcuts use). */
export function isQuitShortcut(event: KeyboardEvent): boolean {
  return (
    event.ctrlKey && !event.altKey && !event.shiftKey && !event.metaKey && event.key.toLowerCase() === 'q'
  );
}

/** The tooltip on every change control while the database is read-only. */
export const READ_ONLY_TITLE =
  'The key database is read-only, so nothing can be changed. Open a writable copy to make changes.';

/** `title` for a change control: why it is disabled, or `fallback` when it is not. */
export function readOnlyTitle(fallback?: string): string | undefined {
  return appStatus.readOnly ? READ_ONLY_TITLE : fallback;
}

/** Shows an error where it belongs: full screen for an unusable database, else the banner. */
export function reportError(error: IpcError): void {
  if (error.kind === 'database_unavailable') {
    appStatus.fatal = error.message;
  } else {
    // The database became read-only while the app ran: disable changes from now on.
    if (error.kind === 'read_only') appStatus.readOnly = true;
    appStatus.banner = error.message;
  }
}

export function setReadOnly(readOnly: boolean): void {
  appStatus.readOnly = readOnly;
}

export function dismissBanner(): void {
  appStatus.banner = null;
}

export function resetStatus(): void {
  appStatus.fatal = null;
  appStatus.banner = null;
  appStatus.readOnly = false;
  appStatus.secretOnScreen = false;
}
