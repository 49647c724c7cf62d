//! What crosses between the core, the CLI and the UI. Every type here derives `TS`, and the
//! TypeScript in `ui/src/bindings/` is generated from it (`cargo test` writes it).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::names::{self, Refusal};
use crate::secret::{serialize_exposed, SecretToken};

pub const NAME_MAX_CHARS: usize = 50;
pub const DEFAULT_EXPIRY_DAYS: u32 = 90;
pub const EXPIRY_PRESET_DAYS: [u32; 6] = [7, 30, 60, 90, 180, 365];
pub const MAX_EXPIRY_DAYS: u32 = 3650;
pub const MAX_PAGE_SIZE: u32 = 200;
/// A page of the key list when the query asks for no particular size; the UI's page too.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const DEFAULT_OWNER_KEY_LIMIT: u32 = 5;
pub const DEFAULT_CLIPBOARD_CLEAR_SECONDS: u32 = 30;
/// "Expires soon" means within this many days. Not read in Rust: the UI keeps its own copy
/// (`EXPIRES_SOON_DAYS` in `ui/src/components/keys/meta.ts`), since constants are not exported to
/// the UI's bindings (ts-rs exports types). Change both together until this one reaches the UI.
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

/// Checks a key name and returns it in the form it is stored in: the characters
/// [`crate::names`] refuses are refused, blank runs become one space, the ends are trimmed, and
/// the text is normalised to NFC (then it must be 1–50 characters, with one visible).
pub fn validate_name(raw: &str) -> Result<String> {
    let trimmed = raw.trim_matches(names::is_blank);
    if trimmed.is_empty() {
        return Err(Error::InvalidInput("Give the key a name.".into()));
    }
    let name = names::canonical(trimmed);
    // Checked as typed (a tab would be a space by now) and as stored (NFC can move a mark away
    // from a joiner). The message for the first kind found, controls first: they are the
    // likelier mistake.
    let refused = [names::refusal_in(trimmed), names::refusal_in(&name)];
    if let Some(why) = refused.into_iter().flatten().min() {
        let message = match why {
            Refusal::Control => {
                "The name contains a control character (such as a tab or a line break); remove it."
            }
            Refusal::Invisible => {
                "The name contains an invisible or text-direction character; remove it."
            }
            Refusal::Unassigned => {
                "The name contains a private-use or unassigned character, which may show \
                 differently on each computer or not at all; remove it."
            }
        };
        return Err(Error::InvalidInput(message.into()));
    }
    let count = name.chars().count();
    if count > NAME_MAX_CHARS {
        return Err(Error::InvalidInput(format!(
            "The name is {count} characters long; use at most {NAME_MAX_CHARS}."
        )));
    }
    if !name.chars().any(names::is_visible) {
        return Err(Error::InvalidInput(
            "The name has no visible letter, digit or symbol; add one.".into(),
        ));
    }
    Ok(name)
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
    /// The usage plan's name; `None` is the default plan (a setting).
    #[serde(default)]
    #[ts(optional)]
    pub plan: Option<String>,
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
            plan: None,
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
    /// Another usage plan, by name.
    #[serde(default)]
    pub plan: Option<String>,
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
            scope_catalogue: vec![
                VERIFY_SCOPE.into(),
                "models:chat".into(),
                "read".into(),
                "write".into(),
            ],
        }
    }
}

/// The scope a service's own key needs to ask the verify server about other keys. Always in the
/// catalogue: an admin gives it to the service's key.
pub const VERIFY_SCOPE: &str = "keyward:verify";

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

/// What the UI shows next to a name field as it is typed: the core's own answer, so the rule
/// lives only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NameCheck {
    /// Why the name would be refused, in the words [`validate_name`] (or
    /// [`validate_owner_name`]) would use; none when it is fine.
    pub problem: Option<String>,
    /// The name in the form it would be stored in ([`names::canonical`]): compare this, not
    /// what was typed, with a stored name.
    pub name: String,
    /// Characters in that form (Unicode scalar values, as the limit counts them).
    pub length: u32,
    /// The most characters a name may have.
    pub max: u32,
}

impl NameCheck {
    /// Checks a key name.
    pub fn key(raw: &str) -> Self {
        Self::from(raw, validate_name(raw))
    }

    /// Checks an owner name.
    pub fn owner(raw: &str) -> Self {
        Self::from(raw, validate_owner_name(raw))
    }

    fn from(raw: &str, checked: Result<String>) -> Self {
        let name = checked
            .as_ref()
            .map_or_else(|_| names::canonical(raw), Clone::clone);
        Self {
            problem: checked.err().map(|e| e.to_string()),
            length: u32::try_from(name.chars().count()).unwrap_or(u32::MAX),
            name,
            max: NAME_MAX_CHARS as u32,
        }
    }
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
    /// The usage plan's name.
    pub plan: String,
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
    /// The key's quota count in its plan's current period; keys without one (no quota, no
    /// check yet this period) count as 0. Equal counts above 0 are ordered by id alone, so that
    /// a page is read in order from one index.
    Usage,
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
    /// How many keys match the query in all (not just this page); with `total_exact` false, at
    /// least this many (a search's matches are counted a thousand at a time).
    pub total: u32,
    pub total_exact: bool,
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
    /// The key's usage plan, read in the same row as the key: the verify server enforces it.
    pub plan: String,
    pub limits: crate::plans::PlanLimits,
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

    /// Every code point whose General_Category is `category`, read from the Unicode data
    /// directly (not through the rule under test).
    fn chars_in(category: icu_properties::props::GeneralCategory) -> Vec<char> {
        let categories =
            icu_properties::CodePointMapData::<icu_properties::props::GeneralCategory>::new();
        (0..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|&c| categories.get(c) == category)
            .collect()
    }

    /// Asserts `c` is refused inside, before and after a name, for keys and owners alike, with a
    /// message containing `why`.
    fn assert_refused_everywhere(c: char, why: &str) {
        for raw in [
            format!("ali{c}ce"),
            format!("{c}alice"),
            format!("alice{c}"),
        ] {
            for (kind, result) in [
                ("key", validate_name(&raw)),
                ("owner", validate_owner_name(&raw)),
            ] {
                match result {
                    Err(Error::InvalidInput(message)) => assert!(
                        message.contains(why),
                        "{kind} name {raw:?} (U+{:04X}): {message}",
                        u32::from(c)
                    ),
                    other => panic!(
                        "{kind} name {raw:?} (U+{:04X}) gave {other:?}",
                        u32::from(c)
                    ),
                }
            }
        }
    }

    #[test]
    fn every_format_character_is_refused() {
        use icu_properties::props::GeneralCategory as Gc;
        let format = chars_in(Gc::Format);
        // The issue counted 163; newer Unicode versions add more.
        assert!(format.len() >= 160, "only {} Cf characters", format.len());
        for c in format {
            assert_refused_everywhere(c, "invisible or text-direction");
        }
    }

    #[test]
    fn every_control_separator_private_and_unassigned_character_is_refused() {
        use icu_properties::props::GeneralCategory as Gc;
        // Edge blanks are trimmed, so test the controls that are White_Space (tab, line feed,
        // U+0085, U+2028...) inside a name only.
        for category in [Gc::Control, Gc::LineSeparator, Gc::ParagraphSeparator] {
            for c in chars_in(category) {
                let raw = format!("ali{c}ce");
                let message = validate_name(&raw).expect_err(&raw).to_string();
                assert!(message.contains("control character"), "{raw:?}: {message}");
                assert!(validate_owner_name(&raw).is_err(), "{raw:?}");
            }
        }
        for category in [Gc::PrivateUse, Gc::Unassigned] {
            let chars = chars_in(category);
            assert!(chars.len() > 100_000, "{category:?}: {}", chars.len());
            // Unassigned code points in the default-ignorable ranges are refused as invisible.
            let ignorable = icu_properties::CodePointSetData::new::<
                icu_properties::props::DefaultIgnorableCodePoint,
            >();
            // Over 900,000 code points, most of them in whole unassigned planes: every one of a
            // run of up to 4,096, and in longer runs both ends and every 4,096th.
            let mut i = 0;
            while i < chars.len() {
                let start = i;
                while i + 1 < chars.len() && u32::from(chars[i + 1]) == u32::from(chars[i]) + 1 {
                    i += 1;
                }
                let run = &chars[start..=i];
                i += 1;
                let sampled: Vec<char> = if run.len() <= 4096 {
                    run.to_vec()
                } else {
                    run.iter()
                        .step_by(4096)
                        .chain(run.last())
                        .copied()
                        .collect()
                };
                for c in sampled {
                    let why = if ignorable.contains(c) {
                        "invisible"
                    } else {
                        "private-use or unassigned"
                    };
                    assert_refused_everywhere(c, why);
                }
            }
        }
    }

    #[test]
    fn every_default_ignorable_character_is_refused() {
        let ignorable = icu_properties::CodePointSetData::new::<
            icu_properties::props::DefaultIgnorableCodePoint,
        >();
        let chars: Vec<char> = (0..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|&c| ignorable.contains(c))
            .collect();
        // Hangul fillers (letters), variation selectors and the grapheme joiner (marks) among them.
        for c in [
            '\u{115F}',
            '\u{1160}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{FE0F}',
            '\u{034F}',
            '\u{E0100}',
        ] {
            assert!(chars.contains(&c), "U+{:04X}", u32::from(c));
        }
        for c in chars {
            assert_refused_everywhere(c, "invisible");
        }
    }

    /// Neighbours where U+200C, U+200D or U+FE0F may stand: Persian letters that join, a
    /// virama, emoji.
    const JOINING_PLACES: [(&str, &str); 4] = [
        ("\u{645}\u{6CC}", "\u{62E}\u{648}\u{627}\u{647}\u{645}"),
        ("\u{915}\u{94D}", "\u{937}"),
        ("\u{1F468}", "\u{1F469}"),
        ("\u{2764}", " team"),
    ];

    #[test]
    fn no_other_invisible_character_is_allowed_where_joiners_are() {
        let contextual = [names::ZWNJ, names::ZWJ, names::EMOJI_STYLE];
        let invisible: Vec<char> = (0..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|&c| names::refusal(c) == Some(Refusal::Invisible))
            .filter(|c| !contextual.contains(c))
            .collect();
        // Cf and the default ignorables: over 4,000, most of them unassigned tags and selectors.
        assert!(invisible.len() > 4000, "only {}", invisible.len());
        for c in invisible {
            for (before, after) in JOINING_PLACES {
                let raw = format!("{before}{c}{after}");
                let message = validate_name(&raw).expect_err(&raw).to_string();
                assert!(
                    message.contains("invisible or text-direction"),
                    "{raw:?} (U+{:04X}): {message}",
                    u32::from(c)
                );
            }
        }
    }

    #[test]
    fn joiners_and_selectors_where_they_belong_are_kept() {
        for fine in [
            // Persian "I want": ZWNJ keeps YEH (Joining_Type D) from joining KHAH (D).
            "\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}",
            // The name Alireza: YEH (D), ZWNJ, REH (R).
            "\u{639}\u{644}\u{6CC}\u{200C}\u{631}\u{636}\u{627}",
            // Transparent marks (fatha) on either side of the ZWNJ.
            "\u{6CC}\u{64E}\u{200C}\u{64E}\u{62E}",
            // Hindi after a virama: ZWJ asks for the half form, ZWNJ keeps the virama visible.
            "\u{915}\u{94D}\u{200D}\u{937}",
            "\u{915}\u{94D}\u{200C}\u{937}",
            // Emoji: a heart in emoji style, a family, two flags, a coder with a skin tone, a
            // thumbs-up with one, a keycap.
            "\u{2764}\u{FE0F}",
            "I \u{2764}\u{FE0F} keys",
            "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
            "\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",
            "\u{1F3F3}\u{FE0F}\u{200D}\u{26A7}\u{FE0F}",
            "\u{1F469}\u{1F3FD}\u{200D}\u{1F4BB} dev",
            "\u{1F44D}\u{1F3FD}",
            "#\u{FE0F}\u{20E3} on call",
        ] {
            assert_eq!(validate_name(fine).expect(fine), fine);
            assert_eq!(validate_owner_name(fine).expect(fine), fine);
        }
    }

    #[test]
    fn joiners_and_selectors_out_of_place_are_refused() {
        for bad in [
            // Latin letters neither join, nor are a virama, nor emoji: "alice" stays "alice".
            "ali\u{200C}ce",
            "ali\u{200D}ce",
            "ali\u{FE0F}ce",
            "alice\u{FE0F}",
            // At the start or the end.
            "\u{200C}\u{645}\u{6CC}",
            "\u{645}\u{6CC}\u{200C}",
            "\u{200D}\u{1F469}",
            "\u{1F468}\u{200D}",
            "\u{FE0F}\u{2764}",
            // Doubled.
            "\u{645}\u{6CC}\u{200C}\u{200C}\u{62E}",
            "\u{915}\u{94D}\u{200D}\u{200D}\u{937}",
            "\u{915}\u{94D}\u{200C}\u{200C}\u{937}",
            "\u{1F468}\u{200D}\u{200D}\u{1F469}",
            "\u{2764}\u{FE0F}\u{FE0F}",
            // Next to a letter that does not join that way, or between Latin and emoji.
            "\u{6CC}\u{200C}a",
            "a\u{200C}\u{62E}",
            "\u{648}\u{200C}\u{62E}",
            "a\u{200D}\u{1F469}",
            "\u{1F469}\u{200D}a",
            // ZWJ between Persian letters: only a virama or emoji take it.
            "\u{6CC}\u{200D}\u{62E}",
            // Where the selector changes nothing: after an emoji already shown as one, after a
            // digit outside a keycap; and the text selector, which is never allowed.
            "\u{1F600}\u{FE0F}",
            "key 1\u{FE0F}",
            "\u{2764}\u{FE0E}",
            "\u{231A}\u{FE0E}",
            // Tag sequences, even the flag of England.
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
            // NFC moves the accent between the virama and the joiner.
            "\u{915}\u{301}\u{94D}\u{200D}\u{937}",
        ] {
            for result in [validate_name(bad), validate_owner_name(bad)] {
                match result {
                    Err(Error::InvalidInput(message)) => assert!(
                        message.contains("invisible or text-direction"),
                        "{bad:?}: {message}"
                    ),
                    other => panic!("{bad:?} gave {other:?}"),
                }
            }
        }
    }

    #[test]
    fn emoji_style_follows_exactly_the_characters_unicode_lists_with_it() {
        // Basic_Emoji (emoji-sequences.txt) lists each character that takes U+FE0F; keycaps
        // (Emoji_Keycap_Sequence there) are 0-9, '#' and '*' with it and U+20E3.
        let basic = icu_properties::EmojiSetData::new::<icu_properties::props::BasicEmoji>();
        let mut takes_it = 0;
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            if names::refusal(c).is_some() {
                continue;
            }
            let styled = format!("{c}{}", names::EMOJI_STYLE);
            let listed = basic.contains_str(&styled);
            takes_it += usize::from(listed);
            assert_eq!(
                names::refusal_in(&styled).is_none(),
                listed,
                "U+{:04X}",
                u32::from(c)
            );
            let keycap = format!("{styled}\u{20E3}");
            assert_eq!(
                names::refusal_in(&keycap).is_none(),
                listed || "0123456789#*".contains(c),
                "U+{:04X} keycap",
                u32::from(c)
            );
        }
        assert!(takes_it > 200, "only {takes_it}");
    }

    #[test]
    fn names_that_display_blank_are_refused() {
        for blank in [
            "\u{2800}",
            "\u{2800}\u{2800}\u{2800}",
            "\u{00A0}",
            "\u{3000}",
            " \u{2007}\u{202F}\u{205F} ",
            "\u{3164}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
            "\u{0301}",
            "\u{2800}\u{20DD}\u{2800}",
            // A virama with the joiner it allows shows nothing by itself.
            "\u{94D}\u{200D}",
            "\u{94D}\u{200C}",
        ] {
            assert!(validate_name(blank).is_err(), "{blank:?} accepted");
            assert!(validate_owner_name(blank).is_err(), "{blank:?} accepted");
        }
    }

    #[test]
    fn blanks_become_one_space_and_accents_are_composed() {
        assert_eq!(validate_name("alice\u{2800}").expect("valid"), "alice");
        assert_eq!(
            validate_name("\u{3000}alice\u{00A0}").expect("valid"),
            "alice"
        );
        assert_eq!(
            validate_name("build\u{00A0}\u{3000}  \u{2800}server").expect("valid"),
            "build server"
        );
        let composed = validate_name("Jos\u{E9}").expect("valid");
        assert_eq!(composed, "Jos\u{E9}");
        assert_eq!(validate_name("Jose\u{301}").expect("valid"), composed);
        assert_eq!(validate_owner_name("Jose\u{301}").expect("valid"), composed);
        // Length counts the composed form.
        assert!(validate_name(&"e\u{301}".repeat(NAME_MAX_CHARS)).is_ok());
        // Letters of every script, marks on a base, and plain emoji stay as they are.
        for fine in [
            "Ελληνικά",
            "日本語のキー",
            "हिन्दी",
            "عربي",
            "😀 bot",
            "C#/.NET",
            "Zo\u{EB}",
            "a\u{20DD}",
        ] {
            assert_eq!(validate_name(fine).expect(fine), fine);
        }
    }

    #[test]
    fn a_name_check_gives_the_core_answer_and_the_stored_form() {
        let fine = NameCheck::key("  Jose\u{301}  deploy ");
        assert_eq!(
            fine,
            NameCheck {
                problem: None,
                name: "Jos\u{E9} deploy".into(),
                length: 11,
                max: 50,
            }
        );
        let long = NameCheck::key(&"e\u{301}".repeat(51));
        assert_eq!(long.length, 51);
        assert_eq!(
            long.problem.as_deref(),
            Some("The name is 51 characters long; use at most 50.")
        );
        for raw in ["", "ali\u{200C}ce", "a\tb", "\u{2800}"] {
            let message = validate_name(raw).expect_err(raw).to_string();
            assert_eq!(NameCheck::key(raw).problem, Some(message), "{raw:?}");
            let message = validate_owner_name(raw).expect_err(raw).to_string();
            assert_eq!(NameCheck::owner(raw).problem, Some(message), "{raw:?}");
        }
        assert_eq!(
            NameCheck::owner(" ").problem.as_deref(),
            Some("Give the owner a name.")
        );
        assert_eq!(NameCheck::key("ali\u{200C}ce").length, 6);
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
                // Blanks, combining accents, fillers and look-alike spaces.
                "[ ae\u{301}\u{308}\u{A0}\u{2800}\u{3000}\u{3164}\u{FE0F}\u{E9}\u{20DD}]{0,60}",
                // Joiners and selectors, with letters and emoji that take them and that do not.
                concat!(
                    "[ a1#\u{645}\u{6CC}\u{62E}\u{631}\u{64E}\u{915}\u{94D}\u{301}",
                    "\u{200C}\u{200D}\u{FE0E}\u{FE0F}\u{20E3}❤😀👨👩\u{1F3FD}]{0,40}",
                ),
                "\\PC{0,70}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn validate_name_never_panics_and_accepts_only_clean_bounded_names(raw in any_name()) {
                match validate_name(&raw) {
                    Ok(name) => {
                        // The stored form of what was typed, and stable: checking it again
                        // changes nothing.
                        prop_assert_eq!(&name, &names::canonical(&raw));
                        prop_assert_eq!(validate_name(&name).ok(), Some(name.clone()));
                        prop_assert!(names::is_nfc(&name), "{:?}", name);
                        let count = name.chars().count();
                        prop_assert!((1..=NAME_MAX_CHARS).contains(&count), "{:?}", name);
                        // Joiners and selectors only where they belong.
                        prop_assert_eq!(names::refusal_in(&name), None, "{:?}", name);
                        prop_assert!(!name.chars().any(char::is_control), "{:?}", name);
                        // Blanks only as single ASCII spaces between words.
                        prop_assert!(
                            !name.chars().any(|c| names::is_blank(c) && c != ' '),
                            "{:?}", name
                        );
                        prop_assert!(
                            !name.starts_with(' ') && !name.ends_with(' ') && !name.contains("  "),
                            "{:?}", name
                        );
                        prop_assert!(name.chars().any(names::is_visible), "{:?}", name);
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
