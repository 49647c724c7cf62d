//! The rules the UI needs as values, not types: written as a TypeScript module beside ts-rs's
//! bindings (`ui/src/bindings/rules.ts`) by this module's test, so the UI never keeps a copy of
//! its own. `cargo test` rewrites the file and `make test`'s bindings diff gate fails on a stale
//! one.

use keyward_core::{
    DEFAULT_EXPIRY_DAYS, DEFAULT_PAGE_SIZE, EXPIRES_SOON_DAYS, EXPIRY_PRESET_DAYS, MAX_PAGE_SIZE,
};

use crate::error::ErrorKind;

/// The module's text.
pub fn typescript() -> String {
    let kinds: Vec<String> = ErrorKind::ALL
        .iter()
        .map(|kind| serde_json::to_string(kind).expect("a kind is a string"))
        .collect();
    let presets: Vec<String> = EXPIRY_PRESET_DAYS.iter().map(u32::to_string).collect();
    format!(
        "// Written by src-tauri/src/rules.rs from the Rust rules; do not edit (`cargo test`\n\
         // rewrites it).\n\n\
         /** Keys per page of the list, as the app's first page is read. */\n\
         export const PAGE_SIZE = {DEFAULT_PAGE_SIZE};\n\
         /** The most keys one list call returns. */\n\
         export const MAX_PAGE_SIZE = {MAX_PAGE_SIZE};\n\
         /** Days before expiry at which an active key is shown as expiring soon. */\n\
         export const EXPIRES_SOON_DAYS = {EXPIRES_SOON_DAYS};\n\
         /** The expiry presets offered when a key is made, in days, and the default one. */\n\
         export const EXPIRY_PRESET_DAYS = [{}] as const;\n\
         export const DEFAULT_EXPIRY_DAYS = {DEFAULT_EXPIRY_DAYS};\n\
         /** Every error kind a call may fail with (`IpcError.kind`). */\n\
         export const ERROR_KINDS = [{}] as const;\n",
        presets.join(", "),
        kinds.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_is_listed() {
        assert!(ErrorKind::ALL.iter().all(|kind| kind.listed()));
    }

    /// Writes the module where ts-rs writes the bindings (`TS_RS_EXPORT_DIR`, set in
    /// `.cargo/config.toml`).
    #[test]
    fn export_rules_module() {
        let dir = std::env::var("TS_RS_EXPORT_DIR")
            .expect("TS_RS_EXPORT_DIR is set by .cargo/config.toml");
        let path = std::path::Path::new(&dir).join("rules.ts");
        std::fs::write(&path, typescript()).expect("write rules.ts");
        let written = std::fs::read_to_string(&path).expect("read rules.ts");
        assert!(
            written.contains("export const PAGE_SIZE = 50;"),
            "{written}"
        );
        assert!(written.contains("\"database_unavailable\""), "{written}");
    }
}
