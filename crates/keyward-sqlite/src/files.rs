//! The checks made on a path before SQLite touches it: what a person typed becomes the path of a
//! regular file (or of one still to be made), and whether it, and its folder, can be written.

use std::path::{Path, PathBuf};

use keyward_core::{Error, Result};

/// How the database file can be used, found out before SQLite touches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Writable,
    /// The file exists but cannot be written. `immutable` when its folder cannot take the
    /// `-wal`/`-shm` side files either: SQLite then reads the main file without any locking.
    ReadOnly {
        immutable: bool,
    },
}

/// The words for a refused path: what it is and what to do instead.
pub(crate) fn refuse(message: String) -> Error {
    Error::Unavailable(message)
}

/// Turns what a person typed into the path of a regular file (or of a file still to be made):
/// absolute, so SQLite never reads it as a `file:` URI or `:memory:`, and with a link replaced
/// by its target, so the side files SQLite makes sit beside the real file.
///
/// Refused with plain words: an empty path, SQLite addresses (`:memory:`, `file:…`), a link whose
/// target does not exist, and anything that is not a regular file (a folder, a named pipe, a
/// device, a socket), which is never opened, so a pipe cannot hang the caller.
pub(crate) fn checked_path(typed: &Path) -> Result<PathBuf> {
    let shown = typed.display();
    let text = typed.to_string_lossy();
    if text.trim().is_empty() {
        return Err(refuse(
            "No database path was given. Give the path of a key database file, such as \
             ~/keys/keyward.db."
                .into(),
        ));
    }
    if text == ":memory:" || text.starts_with("file:") {
        return Err(refuse(format!(
            "\"{shown}\" is an SQLite address, not a file path. Keyward keeps keys in a file: \
             give its path, such as ./keyward.db."
        )));
    }
    let absolute = std::path::absolute(typed).map_err(|e| {
        refuse(format!(
            "The path {shown} could not be used ({}).",
            io_words(&e)
        ))
    })?;
    let resolved = match std::fs::symlink_metadata(&absolute) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(&absolute) {
            Ok(target) => target,
            Err(_) => {
                let target = std::fs::read_link(&absolute)
                    .map(|t| t.display().to_string())
                    .unwrap_or_else(|_| "a place that does not exist".into());
                return Err(refuse(format!(
                    "{shown} is a link to {target}, which does not exist. Keyward does not \
                     create a database through a link: give the path of the file itself, or \
                     make the link point to an existing key database."
                )));
            }
        },
        _ => absolute,
    };
    match std::fs::metadata(&resolved) {
        Ok(meta) if meta.is_file() => Ok(resolved),
        Ok(meta) if meta.is_dir() => Err(refuse(format!(
            "{shown} is a folder, not a key database file. Choose a file instead."
        ))),
        Ok(meta) => Err(refuse(format!(
            "{shown} is {}, not a regular file, so it cannot hold a key database. It was left \
             untouched; choose a file instead.",
            special_file_kind(&meta)
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(resolved),
        Err(e) => Err(refuse(format!(
            "The key database {shown} could not be read ({}).",
            io_words(&e)
        ))),
    }
}

#[cfg(unix)]
fn special_file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_file_kind(_meta: &std::fs::Metadata) -> &'static str {
    "a special file"
}

/// An I/O error in words, without the `(os error N)` tail.
pub(crate) fn io_words(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// The folder a database file lives in.
pub(crate) fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// A side file SQLite keeps beside `path`: `-wal`, `-shm`.
pub(crate) fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether the `-wal` beside `path` holds changes not yet in the main file: then only a normal
/// (locking) read sees the database as it is.
pub(crate) fn wal_has_data(path: &Path) -> bool {
    std::fs::metadata(side_file(path, "-wal")).is_ok_and(|m| m.len() > 0)
}

/// Creates a new file for Keyward's data, readable and writable by its owner only (keys,
/// owners and the audit log belong to their user). Fails if anything is there already, a link
/// included, so nothing that exists is ever overwritten.
pub(crate) fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Whether the failure of a write attempt means "you may not write here" (permissions, an
/// immutable file, a read-only file system) rather than some other problem.
fn is_write_refused(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::PermissionDenied
        || matches!(error.raw_os_error(), Some(1) | Some(13) | Some(30))
}

/// Checks the folder and the file (a path from [`checked_path`]) without changing either: a
/// missing or unwritable folder is refused with plain words; a missing file is created empty and
/// owner-only; an existing file that cannot be written is opened read-only.
/// Also says whether it created the file.
pub(crate) fn check_access(path: &Path) -> Result<(Access, bool)> {
    let shown = path.display();
    let folder = folder_of(path);
    if !folder.is_dir() {
        return Err(refuse(format!(
            "The folder {} for the key database does not exist. Create it, or choose another \
             location for the database.",
            folder.display()
        )));
    }
    match create_private_file(path) {
        Ok(_) => return Ok((Access::Writable, true)),
        // Someone else's, or made a moment ago by another process: look at it below.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if is_write_refused(&e) => {
            return Err(refuse(format!(
                "The folder {} cannot be written, so the key database {shown} cannot be \
                 created there. Choose a writable folder, or ask for write access to it.",
                folder.display()
            )))
        }
        Err(e) => {
            return Err(refuse(format!(
                "The key database {shown} could not be created ({}).",
                io_words(&e)
            )))
        }
    }
    // Exists: it was checked to be a regular file, but a link or a pipe may have been put there
    // since; look again without following links, and never open anything but a regular file.
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        refuse(format!(
            "The key database {shown} could not be read ({}).",
            io_words(&e)
        ))
    })?;
    if !meta.is_file() {
        return Err(refuse(format!(
            "{shown} changed while it was being opened (it is no longer a regular file). It was \
             left untouched; try again."
        )));
    }
    // Opening for writing without truncating changes nothing, not even the times.
    let file_writable = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => true,
        Err(e) if is_write_refused(&e) => false,
        Err(e) => {
            return Err(refuse(format!(
                "The key database {shown} could not be opened ({}).",
                io_words(&e)
            )))
        }
    };
    let folder_writable = folder_accepts_files(folder);
    let access = if file_writable && folder_writable {
        Access::Writable
    } else {
        // Without a writable folder SQLite cannot create the side files it needs for a WAL
        // database; read the main file as it is then, unless a leftover -wal holds committed
        // changes that only a normal (locking) read would see.
        Access::ReadOnly {
            immutable: !folder_writable && !wal_has_data(path),
        }
    };
    Ok((access, false))
}

/// Whether a new file can be created in `folder` (a probe file, removed at once).
fn folder_accepts_files(folder: &Path) -> bool {
    let probe = folder.join(format!(".keyward-write-check-{}", std::process::id()));
    match create_private_file(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => !is_write_refused(&e),
    }
}

/// After an I/O failure: whether the disk holding `path` has no room left, found by writing a
/// small probe file next to it (removed at once).
pub(crate) fn disk_is_full(path: &Path) -> bool {
    use std::io::Write;
    let probe = folder_of(path).join(format!(".keyward-space-check-{}", std::process::id()));
    let written = create_private_file(&probe).and_then(|mut file| {
        file.write_all(&[0u8; 16 * 1024])?;
        file.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    matches!(written, Err(e) if e.raw_os_error() == Some(28))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_addresses_and_empty_paths_are_not_paths() {
        for typed in ["", "  ", ":memory:", "file:x.db", "file:x?mode=memory"] {
            let refused = checked_path(Path::new(typed)).expect_err(typed);
            assert!(matches!(refused, Error::Unavailable(_)), "{typed}");
        }
    }

    #[test]
    fn a_relative_path_becomes_absolute() {
        let path = checked_path(Path::new("some-new-file.db")).expect("a path");
        assert!(path.is_absolute());
        assert!(path.ends_with("some-new-file.db"));
    }

    #[test]
    fn io_words_drop_the_os_error_number() {
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(io_words(&e), "Permission denied");
    }
}
