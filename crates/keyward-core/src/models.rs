//! What crosses between the core, the CLI and the UI. Every type here derives `TS`, and the
//! TypeScript in `ui/src/bindings/` is generated from it (`cargo test` writes it).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::secret::{serialize_exposed, SecretToken};

pub const NAME_MAX_CHARS: usize = 50;
pub const DEFAULT_EXPIRY_DAYS: u32 = 90;
pub const EXPIRY_PRESET_DAYS: [u32; 6] = [7, 30, 60, 90, 180, 365];
pub const MAX_EXPIRY_DAYS: u32 = 3650;
pub const MAX_PAGE_SIZE: u32 = 200;
pub const DEFAULT_OWNER_KEY_LIMIT: u32 = 5;
pub const DEFAULT_CLIPBOARD_CLEAR_SECONDS: u32 = 30;
/// "Expires soon" means within this many days.
pub const EXPIRES_SOON_DAYS: u32 = 7;

/// Derived from the row and the clock, never stored: Revoked beats Expired beats Active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn derive(
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> Self {
        if revoked_at.is_some() {
            Self::Revoked
        } else if expires_at.is_some_and(|at| at <= now) {
            Self::Expired
        } else {
            Self::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// What a key is for. Services decide what each role may do; Keyward records and reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Role {
    #[default]
    Standard,
    Admin,
    Project,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Admin => "admin",
            Self::Project => "project",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "standard" => Some(Self::Standard),
            "admin" => Some(Self::Admin),
            "project" => Some(Self::Project),
            _ => None,
        }
    }
}

/// How long a new key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
#[ts(export)]
pub enum ExpiryChoice {
    /// This many days from now (the UI offers 7, 30, 60, 90, 180 and 365).
    Days(u32),
    /// A moment chosen by the user, which must be in the future. The UI and the CLI turn a
    /// calendar date into the end of that day in local time.
    Until(DateTime<Utc>),
    /// No expiry. The UI shows a warning next to this choice.
    Never,
}

impl Default for ExpiryChoice {
    fn default() -> Self {
        Self::Days(DEFAULT_EXPIRY_DAYS)
    }
}

impl ExpiryChoice {
    /// When a key created at `now` with this choice expires; `None` means never.
    pub fn expires_at(self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        match self {
            Self::Days(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
                Ok(Some(now + Duration::days(i64::from(days))))
            }
            Self::Days(_) => Err(Error::InvalidInput(format!(
                "Choose an expiry between 1 and {MAX_EXPIRY_DAYS} days."
            ))),
            Self::Until(at) if at > latest_expiry(now) => Err(Error::InvalidInput(
                "Choose an expiry date within 10 years, or choose never.".into(),
            )),
            Self::Until(at) if at > now => Ok(Some(at)),
            Self::Until(_) => Err(Error::InvalidInput(
                "The expiry date must be in the future.".into(),
            )),
            Self::Never => Ok(None),
        }
    }
}

/// The latest expiry a key may have, counted from `now`: ten years.
fn latest_expiry(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_add_signed(Duration::days(i64::from(MAX_EXPIRY_DAYS)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Characters that make a name display differently from what it is (bidirectional overrides,
/// zero-width joiners and marks), so a name can't impersonate another in the list.
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// Control characters, plus the Unicode line and paragraph separators, which break a line too.
fn is_control_or_line_break(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Trims and checks a key name: 1–50 characters, no control or invisible characters.
pub fn validate_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let count = name.chars().count();
    if count == 0 {
        return Err(Error::InvalidInput("Give the key a name.".into()));
    }
    if count > NAME_MAX_CHARS {
        return Err(Error::InvalidInput(format!(
            "The name is {count} characters long; use at most {NAME_MAX_CHARS}."
        )));
    }
    if name.chars().any(is_control_or_line_break) {
        return Err(Error::InvalidInput(
            "The name contains a control character (such as a tab or a line break); remove it."
                .into(),
        ));
    }
    if name.chars().any(is_deceptive) {
        return Err(Error::InvalidInput(
            "The name contains an invisible or text-direction character; remove it.".into(),
        ));
    }
    Ok(name.to_owned())
}

fn yes() -> bool {
    true
}

/// What the user fills in to issue a key.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewKey {
    pub name: String,
    /// The owner's name, which must exist. `None` means the operating-system user creating the
    /// key, who becomes an owner on first use.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub role: Role,
    /// Each must be in the scope catalogue (Settings).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When off, verification never records "last used".
    #[serde(default = "yes")]
    pub track_usage: bool,
    #[serde(default)]
    pub expiry: ExpiryChoice,
    /// Create even if the owner is at the active-key limit. Written to the audit log.
    #[serde(default)]
    pub override_limit: bool,
}

impl NewKey {
    /// A key with the defaults: owned by the creator, standard role, no scopes, usage tracked,
    /// 90 days.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            owner: None,
            role: Role::default(),
            scopes: Vec::new(),
            track_usage: true,
            expiry: ExpiryChoice::default(),
            override_limit: false,
        }
    }

    pub fn owned_by(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    pub fn expiring(mut self, expiry: ExpiryChoice) -> Self {
        self.expiry = expiry;
        self
    }
}

/// A change to an existing key; `None` leaves a field as it is. The secret and the prefix never
/// change, and a revoked key cannot be changed at all.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct KeyUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub track_usage: Option<bool>,
    /// A new expiry, counted from now.
    #[serde(default)]
    pub expiry: Option<ExpiryChoice>,
    /// Allow moving the key to an owner who is at the active-key limit.
    #[serde(default)]
    pub override_limit: bool,
}

/// A person or service that keys belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Owner {
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Keys that are neither revoked nor expired: what the limit counts.
    pub active_keys: u32,
    pub total_keys: u32,
}

/// Settings kept in the database; every change is audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Settings {
    /// The expiry the create dialog starts with (one of the presets), or 0 for never.
    pub default_expiry_days: u32,
    pub clipboard_clear_seconds: u32,
    /// The tag new keys start with (`kw`): 2–16 lowercase letters or digits.
    pub key_prefix: String,
    /// How many active keys one owner may have.
    pub owner_key_limit: u32,
    /// The scopes a key may be given.
    pub scope_catalogue: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_expiry_days: DEFAULT_EXPIRY_DAYS,
            clipboard_clear_seconds: DEFAULT_CLIPBOARD_CLEAR_SECONDS,
            key_prefix: crate::token::DEFAULT_PREFIX.to_owned(),
            owner_key_limit: DEFAULT_OWNER_KEY_LIMIT,
            scope_catalogue: vec!["read".into(), "write".into(), "models:chat".into()],
        }
    }
}

/// Checks a scope name: 1–64 of letters, digits and `:._-`, e.g. `models:chat`.
pub fn validate_scope(scope: &str) -> Result<()> {
    let ok = (1..=64).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "\"{scope}\" is not a valid scope: use 1 to 64 letters, digits, ':', '.', '_' or '-'."
        )))
    }
}

/// Trims and checks an owner name: the same rules as key names.
pub fn validate_owner_name(raw: &str) -> Result<String> {
    validate_name(raw).map_err(|e| match e {
        Error::InvalidInput(message) => {
            Error::InvalidInput(message.replace("the key", "the owner"))
        }
        other => other,
    })
}

/// A key as lists and details show it. Never carries the secret or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct KeySummary {
    /// The public handle, 10 base62 characters.
    pub id: String,
    pub prefix: String,
    /// `kw_3fJk9QzP0a_…x9Qa`: enough to recognise a key, useless to use it.
    pub masked: String,
    pub name: String,
    pub owner: String,
    pub role: Role,
    pub scopes: Vec<String>,
    pub track_usage: bool,
    pub status: KeyStatus,
    pub created_at: DateTime<Utc>,
    /// The operating-system user who created the key.
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The result of creating a key: the only time the full token leaves the core.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct CreatedKey {
    pub key: KeySummary,
    #[serde(serialize_with = "serialize_exposed")]
    #[ts(type = "string")]
    pub token: SecretToken,
}

/// A page of the key list, filtered and searched in SQL.
/// The list's sort order. Ties are broken by creation time, then id, so pages never overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SortColumn {
    #[default]
    Created,
    Name,
    Owner,
    Role,
    Status,
    Expires,
    LastUsed,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ListQuery {
    /// Matches the name or the public id (`kw_3fJk9QzP0a`), case-insensitively.
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub status: Option<KeyStatus>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    /// Only active keys that expire within this many days (the "expires soon" filter).
    #[serde(default)]
    pub expiring_within_days: Option<u32>,
    #[serde(default)]
    pub sort: SortColumn,
    /// Newest / largest first.
    #[serde(default = "yes")]
    pub descending: bool,
    #[serde(default)]
    pub offset: u32,
    /// At most 200; 0 means the default of 50.
    #[serde(default)]
    pub limit: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            search: None,
            status: None,
            owner: None,
            role: None,
            expiring_within_days: None,
            sort: SortColumn::default(),
            descending: true,
            offset: 0,
            limit: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct KeyPage {
    pub keys: Vec<KeySummary>,
    /// How many keys match the query in all (not just this page).
    pub total: u32,
    pub offset: u32,
}

/// What revoking a set of keys did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RevokeOutcome {
    /// Ids that were active or expired and are revoked now.
    pub revoked: Vec<String>,
    /// Ids that were revoked before; nothing changed for them.
    pub already_revoked: Vec<String>,
}

/// What a valid key may do, reported by [`Verdict::Valid`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct VerifiedKey {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub role: Role,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The answer to "may this key be used?". The first failing check wins, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "verdict", rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum Verdict {
    Valid {
        key: VerifiedKey,
    },
    /// Not a Keyward key at all: wrong shape or checksum. No database read was made.
    Malformed,
    /// No such key, or the secret does not match; deliberately not saying which.
    NotFound,
    Revoked,
    Expired,
    /// Valid, but lacks a scope the caller requires.
    Forbidden {
        missing: Vec<String>,
    },
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Valid { .. } => "VALID",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
            Self::Forbidden { .. } => "FORBIDDEN",
        }
    }
}

/// Which audit events to show, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AuditQuery {
    #[serde(default)]
    pub key_id: Option<String>,
    /// One of the actions, e.g. `key_revoked`.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub offset: u32,
    /// At most 200; 0 means 50.
    #[serde(default)]
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub total: u32,
    pub offset: u32,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AuditEvent {
    pub seq: u32,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `key_created`, `key_updated`, `key_revoked`, `key_deleted`, `owner_created`,
    /// `owner_renamed` or `settings_changed`.
    pub action: String,
    pub key_id: Option<String>,
    /// JSON with what changed (never a secret).
    pub details: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            validate_name("  build server  ").expect("valid"),
            "build server"
        );
        assert_eq!(
            validate_name(&"é".repeat(50))
                .expect("50 chars is fine")
                .chars()
                .count(),
            50
        );
        for bad in [
            "",
            "   ",
            "\t",
            "a\nb",
            "bell\u{7}",
            "x\u{202E}gnp.exe",
            "zero\u{200B}width",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        let too_long = validate_name(&"a".repeat(51)).expect_err("51 chars");
        assert_eq!(
            too_long.to_string(),
            "The name is 51 characters long; use at most 50."
        );
    }

    #[test]
    fn status_prefers_revoked_then_expired() {
        let now = Utc::now();
        let past = Some(now - Duration::seconds(1));
        let future = Some(now + Duration::days(1));
        assert_eq!(KeyStatus::derive(now, future, None), KeyStatus::Active);
        assert_eq!(KeyStatus::derive(now, None, None), KeyStatus::Active);
        assert_eq!(KeyStatus::derive(now, past, None), KeyStatus::Expired);
        assert_eq!(KeyStatus::derive(now, Some(now), None), KeyStatus::Expired);
        assert_eq!(KeyStatus::derive(now, past, past), KeyStatus::Revoked);
    }

    #[test]
    fn expiry_choices_resolve_against_now() {
        let now = Utc::now();
        assert_eq!(ExpiryChoice::default(), ExpiryChoice::Days(90));
        assert_eq!(
            ExpiryChoice::Days(30).expires_at(now).expect("valid"),
            Some(now + Duration::days(30))
        );
        assert_eq!(ExpiryChoice::Never.expires_at(now).expect("valid"), None);
        assert!(ExpiryChoice::Days(0).expires_at(now).is_err());
        assert!(ExpiryChoice::Until(now).expires_at(now).is_err());
        assert!(ExpiryChoice::Until(now - Duration::days(1))
            .expires_at(now)
            .is_err());
    }

    mod properties {
        use super::super::*;
        use chrono::TimeZone;
        use proptest::prelude::*;

        fn any_name() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[ a-zA-Z0-9<>&\"'/=\t\n\u{7}\u{202E}\u{200B}\u{FEFF}é漢😀]{0,60}",
                "\\PC{0,70}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn validate_name_never_panics_and_accepts_only_clean_bounded_names(raw in any_name()) {
                match validate_name(&raw) {
                    Ok(name) => {
                        prop_assert_eq!(name.as_str(), raw.trim());
                        let count = name.chars().count();
                        prop_assert!((1..=NAME_MAX_CHARS).contains(&count), "{:?}", name);
                        prop_assert!(!name.chars().any(char::is_control), "{:?}", name);
                        prop_assert!(!name.chars().any(is_deceptive), "{:?}", name);
                    }
                    Err(Error::InvalidInput(message)) => prop_assert!(!message.is_empty()),
                    Err(other) => prop_assert!(false, "unexpected error kind: {other:?}"),
                }
                // Owner names follow the same rules and never panic either.
                prop_assert_eq!(
                    validate_owner_name(&raw).is_ok(),
                    validate_name(&raw).is_ok()
                );
            }

            #[test]
            fn expiry_in_days_never_panics_and_is_in_range(
                days in prop_oneof![any::<u32>(), 0u32..=MAX_EXPIRY_DAYS + 2],
                now_ms in -8_000_000_000_000i64..250_000_000_000_000i64,
            ) {
                let now = Utc.timestamp_millis_opt(now_ms).single().expect("in range");
                match ExpiryChoice::Days(days).expires_at(now) {
                    Ok(Some(at)) => {
                        prop_assert!((1..=MAX_EXPIRY_DAYS).contains(&days));
                        prop_assert_eq!(at - now, Duration::days(i64::from(days)));
                    }
                    Ok(None) => prop_assert!(false, "Days never means never"),
                    Err(e) => {
                        prop_assert!(!(1..=MAX_EXPIRY_DAYS).contains(&days));
                        prop_assert!(matches!(e, Error::InvalidInput(_)));
                    }
                }
            }

            #[test]
            fn expiry_until_a_moment_never_panics_and_must_be_future(
                at_ms in any::<i64>(),
                now_ms in -8_000_000_000_000i64..250_000_000_000_000i64,
            ) {
                let now = Utc.timestamp_millis_opt(now_ms).single().expect("in range");
                let Some(at) = Utc.timestamp_millis_opt(at_ms).single() else {
                    return Ok(());
                };
                match ExpiryChoice::Until(at).expires_at(now) {
                    Ok(got) => {
                        prop_assert!(at > now && at <= latest_expiry(now));
                        prop_assert_eq!(got, Some(at));
                    }
                    Err(e) => {
                        prop_assert!(at <= now || at > latest_expiry(now));
                        prop_assert!(matches!(e, Error::InvalidInput(_)));
                    }
                }
                prop_assert_eq!(ExpiryChoice::Never.expires_at(now).ok(), Some(None));
            }
        }
    }
}
