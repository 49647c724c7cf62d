// Written by src-tauri/src/rules.rs from the Rust rules; do not edit (`cargo test`
// rewrites it).

/** Keys per page of the list, as the app's first page is read. */
export const PAGE_SIZE = 50;
/** The most keys one list call returns. */
export const MAX_PAGE_SIZE = 200;
/** Days before expiry at which an active key is shown as expiring soon. */
export const EXPIRES_SOON_DAYS = 7;
/** The expiry presets offered when a key is made, in days, and the default one. */
export const EXPIRY_PRESET_DAYS = [7, 30, 60, 90, 180, 365] as const;
export const DEFAULT_EXPIRY_DAYS = 90;
/** Every error kind a call may fail with (`IpcError.kind`). */
export const ERROR_KINDS = ["invalid_input", "not_found", "limit_reached", "read_only", "database_unavailable", "internal"] as const;
