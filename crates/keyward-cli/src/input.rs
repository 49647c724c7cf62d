//! `verify -`: the key from standard input, read with a bound.

use std::io::{ErrorKind, Read};

use keyward_core::SecretToken;
use zeroize::Zeroizing;

use crate::Failure;

/// The most bytes `verify -` takes as a key. A key is under 100 bytes; this leaves room for long
/// prefixes and stray spaces, and keeps `/dev/zero` or `yes` from filling memory.
pub const STDIN_KEY_MAX: usize = 1024;

/// A line read by [`read_first_line`], in a buffer that is zeroized when dropped.
pub struct Line {
    buffer: Zeroizing<[u8; STDIN_KEY_MAX + 1]>,
    len: usize,
}

impl Line {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

/// The first line of `input` (without its newline), reading at most `STDIN_KEY_MAX + 1` bytes so
/// an endless stream without a newline ends promptly. `Ok(None)` when that line is longer than
/// `STDIN_KEY_MAX`. Everything read stays in the line's buffer (zeroized when dropped).
pub fn read_first_line(input: &mut impl Read) -> std::io::Result<Option<Line>> {
    let mut buffer = Zeroizing::new([0u8; STDIN_KEY_MAX + 1]);
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                let start = filled;
                filled += n;
                if let Some(at) = buffer[start..filled].iter().position(|&b| b == b'\n') {
                    filled = start + at;
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if filled > STDIN_KEY_MAX {
        return Ok(None);
    }
    Ok(Some(Line {
        buffer,
        len: filled,
    }))
}

/// The key `verify` checks: `arg` itself, or for "-" the first line of standard input.
pub fn read_token(arg: String) -> Result<SecretToken, Failure> {
    if arg != "-" {
        return Ok(SecretToken::from(arg));
    }
    let line = read_stdin_line()
        .map_err(|e| Failure::Broken(format!("Could not read the key from standard input: {e}")))?
        .ok_or_else(|| {
            Failure::Broken(format!(
                "The key on standard input is longer than {STDIN_KEY_MAX} bytes, so it is not a \
                 Keyward key; nothing was checked."
            ))
        })?;
    let text = std::str::from_utf8(line.as_bytes()).map_err(|_| {
        Failure::Broken(
            "The key on standard input is not text (UTF-8), so it is not a Keyward key; nothing \
             was checked."
                .into(),
        )
    })?;
    Ok(SecretToken::from(text.trim().to_owned()))
}

/// Reads from a duplicate of the standard input descriptor, not through `Stdin`, whose shared
/// buffer would keep a copy of the key that nobody zeroizes.
#[cfg(unix)]
fn read_stdin_line() -> std::io::Result<Option<Line>> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    read_first_line(&mut std::fs::File::from(fd))
}

#[cfg(not(unix))]
fn read_stdin_line() -> std::io::Result<Option<Line>> {
    read_first_line(&mut std::io::stdin().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(bytes: &[u8]) -> Option<Vec<u8>> {
        read_first_line(&mut &bytes[..])
            .expect("reads")
            .map(|line| line.as_bytes().to_vec())
    }

    #[test]
    fn the_first_line_is_read_within_the_bound() {
        assert_eq!(line(b"kw_abc\nrest").as_deref(), Some(&b"kw_abc"[..]));
        assert_eq!(line(b"kw_abc").as_deref(), Some(&b"kw_abc"[..]));
        assert_eq!(line(b"").as_deref(), Some(&b""[..]));
        assert_eq!(line(b"kw\0x\n").as_deref(), Some(&b"kw\0x"[..]));
        let longest = vec![b'a'; STDIN_KEY_MAX];
        assert_eq!(line(&longest).as_deref(), Some(&longest[..]));
        let mut with_newline = longest.clone();
        with_newline.extend_from_slice(b"\nmore");
        assert_eq!(line(&with_newline).as_deref(), Some(&longest[..]));
        assert_eq!(line(&vec![b'a'; STDIN_KEY_MAX + 1]), None);
    }

    #[test]
    fn an_endless_stream_without_a_newline_ends_as_too_long() {
        let mut zeros = std::io::repeat(0);
        assert!(read_first_line(&mut zeros).expect("reads").is_none());
        let mut ys = std::io::repeat(b'y');
        assert!(read_first_line(&mut ys).expect("reads").is_none());
    }
}
