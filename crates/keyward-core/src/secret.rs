//! The one type that holds a plaintext key. It never prints, never serializes by accident, and
//! wipes its memory when dropped.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The SHA-256 of a secret: enough to recognise it again later without keeping it.
pub type Fingerprint = [u8; 32];

/// How a secret is remembered without being kept: the app's clipboard watch and the verify
/// cache both compare these.
pub fn fingerprint(text: &str) -> Fingerprint {
    Sha256::digest(text.as_bytes()).into()
}

/// A full API key (`kw_<id>_<secret><check>`) in plaintext.
///
/// `Debug` and `Display` print `[redacted]`; the only way to the text is [`SecretToken::expose`],
/// so every place that shows or copies the secret is easy to find.
#[derive(Clone)]
pub struct SecretToken(Zeroizing<String>);

impl SecretToken {
    pub(crate) fn new(token: String) -> Self {
        Self(Zeroizing::new(token))
    }

    /// The plaintext key. Call this only to hand it to the person it was issued for.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretToken {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken([redacted])")
    }
}

impl fmt::Display for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// For the single place a secret crosses to the UI: the result of creating a key.
pub fn serialize_exposed<S: serde::Serializer>(
    token: &SecretToken,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(token.expose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_token() {
        let token = SecretToken::new("kw_abcdefghij_supersecretvalue".to_owned());
        let shown = format!("{token:?} {token} {:?}", Some(&token));
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(token.expose(), "kw_abcdefghij_supersecretvalue");
    }
}
