//! The key format: `<prefix>_<id>_<secret><check>`.
//!
//! - `prefix`: 2–16 of `[a-z0-9]`, the issuer's tag.
//! - `id`: 10 base62 characters, the public handle shown in lists.
//! - `secret`: 32 base62 characters (~190 bits) from the OS CSPRNG.
//! - `check`: 6 base62 characters encoding the CRC32 of everything before it, so a typo or a
//!   made-up string is rejected before any database read.
//!
//! Only `[A-Za-z0-9_]` appears, so a double-click selects the whole key. The regular expression
//! secret scanners use to find keys is written once, in the README ("The key format"); a test
//! below checks every generated key against it.

use rand::rngs::OsRng;
use rand::Rng;

use crate::error::Error;
use crate::secret::SecretToken;

pub const ID_LEN: usize = 10;
pub const SECRET_LEN: usize = 32;
pub const CHECK_LEN: usize = 6;
pub const PREFIX_MIN: usize = 2;
pub const PREFIX_MAX: usize = 16;
pub const DEFAULT_PREFIX: &str = "kw";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A token split into its parts, its checksum already verified. Borrowing the parts keeps the
/// secret inside the caller's [`SecretToken`] instead of copying it around.
#[derive(PartialEq, Eq)]
pub struct ParsedToken<'a> {
    pub prefix: &'a str,
    pub id: &'a str,
    pub secret: &'a str,
}

impl std::fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedToken")
            .field("prefix", &self.prefix)
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// A freshly generated key: the plaintext token to show once, and the parts to store.
pub struct GeneratedToken {
    pub token: SecretToken,
    pub id: String,
    pub secret_last4: String,
}

impl GeneratedToken {
    /// The issuer prefix the token starts with.
    pub fn prefix(&self) -> &str {
        self.token
            .expose()
            .split_once('_')
            .map_or("", |(prefix, _)| prefix)
    }

    /// The secret part alone, for hashing.
    pub fn secret(&self) -> zeroize::Zeroizing<String> {
        let token = self.token.expose();
        let start = token.len() - CHECK_LEN - SECRET_LEN;
        zeroize::Zeroizing::new(token[start..token.len() - CHECK_LEN].to_owned())
    }
}

impl std::fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedToken")
            .field("id", &self.id)
            .field("token", &self.token)
            .finish()
    }
}

/// Checks an issuer prefix (`kw`, `acme`): 2–16 lowercase letters or digits.
pub fn validate_prefix(prefix: &str) -> Result<(), Error> {
    let ok = (PREFIX_MIN..=PREFIX_MAX).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "The key prefix must be {PREFIX_MIN} to {PREFIX_MAX} lowercase letters or digits."
        )))
    }
}

/// Draws `len` base62 characters from the OS CSPRNG. `gen_range` rejects out-of-range samples,
/// so every character is equally likely (no modulo bias).
pub(crate) fn random_base62(len: usize) -> String {
    random_base62_from(&mut OsRng, len)
}

/// `len` base62 characters from `rng`. Keys take [`OsRng`]; made-up seed data may take a faster
/// generator, since nothing secret comes from it.
pub(crate) fn random_base62_from(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
        .collect()
}

/// A new random key id (the public handle).
pub fn generate_id() -> String {
    random_base62(ID_LEN)
}

fn encode_check(crc: u32) -> String {
    let mut digits = [b'0'; CHECK_LEN];
    let mut value = crc;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

fn decode_check(text: &str) -> Option<u32> {
    text.bytes()
        .try_fold(0u64, |acc, b| {
            let digit = BASE62.iter().position(|&c| c == b)? as u64;
            Some(acc * 62 + digit)
        })
        .and_then(|v| u32::try_from(v).ok())
}

/// Builds a new token with the given prefix and id and a fresh secret.
pub fn generate_token(prefix: &str, id: &str) -> Result<GeneratedToken, Error> {
    validate_prefix(prefix)?;
    let secret = zeroize::Zeroizing::new(random_base62(SECRET_LEN));
    let mut token = String::with_capacity(prefix.len() + ID_LEN + SECRET_LEN + CHECK_LEN + 2);
    token.push_str(prefix);
    token.push('_');
    token.push_str(id);
    token.push('_');
    token.push_str(&secret);
    let check = encode_check(crc32fast::hash(token.as_bytes()));
    token.push_str(&check);
    Ok(GeneratedToken {
        secret_last4: secret[SECRET_LEN - 4..].to_owned(),
        id: id.to_owned(),
        token: SecretToken::new(token),
    })
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Splits a token into its parts and verifies its checksum. Pure: it never touches a database,
/// so a typo or a made-up key costs nothing to reject.
pub fn parse_token(token: &str) -> Option<ParsedToken<'_>> {
    let (prefix, rest) = token.split_once('_')?;
    let (id, tail) = rest.split_once('_')?;
    if validate_prefix(prefix).is_err()
        || id.len() != ID_LEN
        || tail.len() != SECRET_LEN + CHECK_LEN
        || !is_base62(id)
        || !is_base62(tail)
    {
        return None;
    }
    let (secret, check) = tail.split_at(SECRET_LEN);
    let body = &token[..token.len() - CHECK_LEN];
    if decode_check(check)? != crc32fast::hash(body.as_bytes()) {
        return None;
    }
    Some(ParsedToken { prefix, id, secret })
}

/// What a list shows instead of the key: `kw_3fJk9QzP0a_…x9Qa`.
pub fn masked(prefix: &str, id: &str, secret_last4: &str) -> String {
    format!("{prefix}_{id}_…{secret_last4}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fresh(prefix: &str) -> GeneratedToken {
        generate_token(prefix, &generate_id()).expect("valid prefix")
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let generated = fresh("kw");
        let token = generated.token.expose();
        assert_eq!(token.len(), 2 + 1 + ID_LEN + 1 + SECRET_LEN + CHECK_LEN);
        let parsed = parse_token(token).expect("a fresh token parses");
        assert_eq!(parsed.prefix, "kw");
        assert_eq!(parsed.id, generated.id);
        assert!(parsed.secret.ends_with(&generated.secret_last4));
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }

    /// The regular expression the README gives secret scanners, read from the README itself.
    fn documented_regex() -> regex::Regex {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let after = readme
            .split_once("For secret scanners, every Keyward key matches:")
            .expect("the README's key format section")
            .1;
        let pattern = after
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with("```"))
            .expect("the regular expression");
        regex::Regex::new(pattern).expect("a valid regular expression")
    }

    #[test]
    fn every_generated_token_matches_the_regex_the_readme_gives_scanners() {
        let regex = documented_regex();
        for prefix in ["kw", "ab", "0123456789abcdef", "live2"] {
            for _ in 0..50 {
                let generated = fresh(prefix);
                let token = generated.token.expose();
                let text = format!("export API_KEY=\"{token}\"; # from keyward\n");
                let found: Vec<&str> = regex.find_iter(&text).map(|m| m.as_str()).collect();
                assert_eq!(found, [token], "{regex}");
            }
        }
        // Not a key: a prefix too long, an id too short, a secret and check cut short.
        let token = fresh("kw").token.expose().to_owned();
        for not_a_key in [
            format!("abcdefghijklmnopq{}", &token[2..]),
            format!("kw_{}", &token[4..]),
            token[..token.len() - 1].to_owned(),
        ] {
            assert!(!regex.is_match(&not_a_key), "{not_a_key}");
        }
    }

    #[test]
    fn two_tokens_never_share_a_secret() {
        let a = fresh("kw");
        let b = fresh("kw");
        assert_ne!(a.token.expose(), b.token.expose());
    }

    #[test]
    fn check_digits_round_trip_across_the_u32_range() {
        for crc in [0, 1, 61, 62, 3_843, u32::MAX / 2, u32::MAX] {
            assert_eq!(decode_check(&encode_check(crc)), Some(crc));
        }
        assert_eq!(
            decode_check("zzzzzz"),
            None,
            "above u32::MAX is not a checksum"
        );
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["", "k", "KW", "k-w", "abcdefghijklmnopq", "kw_"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(validate_prefix("acme2").is_ok());
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        let good = fresh("kw");
        let good = good.token.expose();
        let cases = [
            String::new(),
            "kw".into(),
            "kw__".into(),
            format!("{good} "),
            format!(" {good}"),
            good.replace('_', "-"),
            good[..good.len() - 1].to_owned(),
            format!("{good}a"),
            format!("x{good}"),
        ];
        for case in cases {
            assert!(parse_token(&case).is_none(), "{case:?}");
        }
    }

    const BASE62_AND_UNDERSCORE: &[char] = &[
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H',
        'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
        'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r',
        's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '_',
    ];

    /// Exhaustive for one token: every position, every character a key may contain.
    #[test]
    fn every_single_character_substitution_of_one_token_is_malformed() {
        let generated = fresh("acme");
        let chars: Vec<char> = generated.token.expose().chars().collect();
        for at in 0..chars.len() {
            for &replacement in BASE62_AND_UNDERSCORE {
                if replacement == chars[at] {
                    continue;
                }
                let mut changed = chars.clone();
                changed[at] = replacement;
                let changed: String = changed.into_iter().collect();
                assert!(
                    parse_token(&changed).is_none(),
                    "{at}: {replacement} accepted"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(prefix in "[a-z0-9]{2,16}") {
            let generated = fresh(&prefix);
            let parsed = parse_token(generated.token.expose()).expect("parses");
            prop_assert_eq!(parsed.prefix, &prefix[..]);
            prop_assert_eq!(parsed.id, &generated.id[..]);
        }

        /// CRC32 catches every burst of up to 32 bits, so any one changed character, in any
        /// part, must be rejected.
        #[test]
        fn every_single_character_change_is_malformed(
            prefix in "[a-z0-9]{2,16}",
            position in any::<prop::sample::Index>(),
            replacement in prop_oneof![
                4 => prop::sample::select(BASE62_AND_UNDERSCORE),
                1 => any::<char>(),
            ],
        ) {
            let generated = fresh(&prefix);
            let token = generated.token.expose();
            let chars: Vec<char> = token.chars().collect();
            let at = position.index(chars.len());
            prop_assume!(chars[at] != replacement);
            let mut changed = chars.clone();
            changed[at] = replacement;
            let changed: String = changed.into_iter().collect();
            prop_assert!(parse_token(&changed).is_none(), "{} accepted", changed);
        }

        #[test]
        fn parse_never_panics(input in ".{0,80}") {
            let _ = parse_token(&input);
        }
    }
}
