//! Fault machinery shared by the CLI fault tests (`tests/faults.rs`) and the real-window ones
//! (`tests/e2e/faults.rs`): immutable files, read-only and tiny mounts, a full disk, another
//! writer holding the lock. Some need root; they fail loudly rather than pass when the machinery
//! is missing. Every guard undoes its fault on drop, even on panic.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Runs a system command the test depends on, failing the test with a clear message if it fails.
pub fn must(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run {program}: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed (this test needs root): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Moves everything from the `-wal` into the main file and removes the side files (the only
/// connection closing does that), so the main file alone is the whole database.
pub fn settle(db: &Path) {
    let script = "import sqlite3,sys\n\
                  c=sqlite3.connect(sys.argv[1])\n\
                  c.execute('PRAGMA wal_checkpoint(TRUNCATE)')\n\
                  c.close()\n";
    must("python3", &["-c", script, db.to_str().expect("utf-8")]);
    for side in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(side);
        assert!(!Path::new(&name).exists(), "{side} file left behind");
    }
}

/// `chattr +i` on a file or folder (root ignores permissions; this stops even root), removed on
/// drop.
pub struct Immutable(PathBuf);

impl Immutable {
    pub fn set(path: &Path) -> Self {
        must("chattr", &["+i", path.to_str().expect("utf-8 path")]);
        Self(path.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .args(["-i", self.0.to_str().unwrap_or_default()])
            .status();
    }
}

/// A mount point, unmounted on drop.
pub struct Mounted(PathBuf);

impl Mounted {
    pub fn read_only_view_of(source: &Path, target: &Path) -> Self {
        std::fs::create_dir_all(target).expect("mount point");
        let (s, t) = (
            source.to_str().expect("utf-8"),
            target.to_str().expect("utf-8"),
        );
        must("mount", &["--bind", s, t]);
        let guard = Self(target.to_owned());
        must("mount", &["-o", "remount,ro,bind", t]);
        guard
    }

    pub fn tmpfs(target: &Path, size: &str) -> Self {
        std::fs::create_dir_all(target).expect("mount point");
        let options = format!("size={size}");
        must(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &options,
                "tmpfs",
                target.to_str().expect("utf-8"),
            ],
        );
        Self(target.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills every remaining byte of the file system `filler` is on; removing `filler` frees it.
pub fn fill_disk(filler: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(filler).expect("filler");
    let block = vec![0u8; 4096];
    while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
    let _ = file.sync_all();
}

/// Another program (python's sqlite3) holding `BEGIN EXCLUSIVE` on the database for `seconds`,
/// or until dropped.
pub struct WriteLockHolder(Child);

impl WriteLockHolder {
    pub fn take(db: &Path, seconds: u32) -> Self {
        let script = format!(
            "import sqlite3,sys,time\n\
             c=sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN EXCLUSIVE')\n\
             print('locked', flush=True)\n\
             time.sleep({seconds})\n"
        );
        let mut child = Command::new("python3")
            .args(["-c", &script, db.to_str().expect("utf-8")])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read from python");
        assert_eq!(line.trim(), "locked", "python3 could not take the lock");
        Self(child)
    }
}

impl Drop for WriteLockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
