//! Names people can tell apart: which characters a key or owner name may hold, and the one form
//! (NFC, single spaces) in which names are stored, compared and searched.
//!
//! The rule is read from the Unicode Character Database (through ICU4X, whose properties and
//! normaliser come from the same Unicode version), not from a hand list, so a character added to
//! a refused category is refused without a change here:
//!
//! - General_Category Cc (controls), Zl and Zp (line and paragraph separators) break a line or
//!   drive a terminal: [`Refusal::Control`].
//! - Cf (format characters: zero-width spaces and joiners, bidirectional overrides and isolates,
//!   tags, the BOM...) and every Default_Ignorable_Code_Point (Hangul fillers, variation
//!   selectors, U+034F COMBINING GRAPHEME JOINER...) show as nothing, or change how their
//!   neighbours show: [`Refusal::Invisible`]. Three of them are allowed where they change what
//!   a reader sees, and only there (see [`refusal_in`]), so a name that looks like "alice" is
//!   still "alice": no Latin letter is a virama, joins, or is an emoji.
//! - Co (private use), Cs (surrogates, which a Rust string cannot hold anyway) and Cn
//!   (unassigned, including the noncharacters) have no agreed glyph: [`Refusal::Unassigned`].
//!
//! The three, with contexts from IDNA2008 (RFC 5892, Appendix A.1 and A.2, "ContextJ") and
//! Unicode's emoji sequences (UTS #51), each read from character properties:
//!
//! - U+200C ZERO WIDTH NON-JOINER, right after a virama (Canonical_Combining_Class 9:
//!   "क्\u{200C}ष" keeps the virama visible), or between letters that would otherwise join: a
//!   Joining_Type L or D letter, any number of T (transparent marks), the ZWNJ, any number of T,
//!   an R or D letter ("می\u{200C}خواهم" in Persian, where it stops "ی" joining "خ").
//! - U+200D ZERO WIDTH JOINER, right after a virama ("क्\u{200D}ष", the half form), or in an
//!   emoji ZWJ sequence: after an Extended_Pictographic character (alone, with U+FE0F, or an
//!   Emoji_Modifier_Base with its Emoji_Modifier) and before another
//!   ("👨\u{200D}👩\u{200D}👧", "🏳\u{FE0F}\u{200D}🌈").
//! - U+FE0F VARIATION SELECTOR-16 (emoji style), right after an Emoji character shown as text
//!   by default (Emoji, not Emoji_Presentation, not Emoji_Component: "❤\u{FE0F}"; exactly the
//!   pairs Unicode lists as Basic_Emoji), or in a keycap: after 0–9, "#" or "*"
//!   (Emoji_Component without Emoji_Presentation) and before U+20E3 COMBINING ENCLOSING KEYCAP
//!   ("#\u{FE0F}\u{20E3}"). Anywhere else it changes nothing, so "😀\u{FE0F}" would pass for
//!   "😀".
//!
//! Still refused everywhere, with every other Cf and default-ignorable character: U+FE0E
//! VARIATION SELECTOR-15 (text style; whether an emoji has a text form is not a character
//! property, and after one without it changes nothing), and tags (U+E0020..E007F). A tag
//! sequence shows as a subdivision flag only when it is one of the few that Unicode recommends
//! (England, Scotland, Wales), and ICU4X has no list of those; any other shows as a plain black
//! flag with the tags unseen, so allowing them would let "🏴" hide text. Emoji modifiers
//! (U+1F3FB..1F3FF) are visible symbols (Sk), never refused: after a base they colour it,
//! elsewhere they show as a swatch. One gap remains that properties cannot close: a ZWJ between
//! two pictographs that have no joint glyph shows as the two side by side, so "😀\u{200D}😀"
//! may look like "😀😀" (Unicode's list of recommended ZWJ sequences is not in ICU4X either).
//!
//! Blank characters (White_Space, plus U+2800 BRAILLE PATTERN BLANK, which Unicode classes as a
//! symbol although its glyph is empty by design) are what a reader sees as a space: runs of them
//! become one ASCII space and the ends are trimmed. A name must keep at least one character that
//! is neither blank, nor a combining mark (Mn, Me), nor invisible, so a name that displays as
//! nothing, or as a lone accent, is refused. Finally the name is normalised to NFC, so "é" typed
//! as one character or as "e" and a combining accent is the same name. [`crate::validate_name`]
//! checks the characters both as typed and in this stored form.

use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::props::{
    CanonicalCombiningClass, DefaultIgnorableCodePoint, Emoji, EmojiComponent, EmojiModifier,
    EmojiModifierBase, EmojiPresentation, ExtendedPictographic, GeneralCategory, JoiningType,
    WhiteSpace,
};
use icu_properties::{CodePointMapData, CodePointSetData};

/// U+200C ZERO WIDTH NON-JOINER.
pub const ZWNJ: char = '\u{200C}';
/// U+200D ZERO WIDTH JOINER.
pub const ZWJ: char = '\u{200D}';
/// U+FE0F VARIATION SELECTOR-16: show the character before as an emoji.
pub const EMOJI_STYLE: char = '\u{FE0F}';
/// U+20E3 COMBINING ENCLOSING KEYCAP.
const KEYCAP: char = '\u{20E3}';

/// Why a character may not be in a name, in the order a message names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// Cc, Zl, Zp.
    Control,
    /// Cf, or Default_Ignorable_Code_Point, outside the places [`refusal_in`] allows.
    Invisible,
    /// Co, Cs or Cn.
    Unassigned,
}

/// Why `c` may not be in a name by its category alone, or `None` when it may stand anywhere.
/// Of the characters refused here, [`refusal_in`] allows U+200C, U+200D and U+FE0F where they
/// belong.
pub fn refusal(c: char) -> Option<Refusal> {
    use GeneralCategory as Gc;
    match CodePointMapData::<GeneralCategory>::new().get(c) {
        Gc::Control | Gc::LineSeparator | Gc::ParagraphSeparator => Some(Refusal::Control),
        Gc::Format => Some(Refusal::Invisible),
        _ if CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c) => {
            Some(Refusal::Invisible)
        }
        Gc::PrivateUse | Gc::Surrogate | Gc::Unassigned => Some(Refusal::Unassigned),
        _ => None,
    }
}

/// Why `text` may not be a name, or `None` when every character in it may stand where it does:
/// the first kind, in [`Refusal`]'s order, of any character [`refusal`] refuses, except U+200C,
/// U+200D and U+FE0F in the places the module documentation lists.
pub fn refusal_in(text: &str) -> Option<Refusal> {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len())
        .filter_map(|i| match refusal(chars[i]) {
            Some(Refusal::Invisible) if belongs(&chars, i) => None,
            other => other,
        })
        .min()
}

/// Whether the joiner or selector at `chars[i]` changes what its neighbours look like there.
fn belongs(chars: &[char], i: usize) -> bool {
    let before = &chars[..i];
    let after = &chars[i + 1..];
    match chars[i] {
        ZWNJ => after_virama(before) || (joins_left(before) && joins_right(after)),
        ZWJ => after_virama(before) || (ends_emoji(before) && starts_emoji(after)),
        EMOJI_STYLE => match before.last() {
            Some(&c) if is_emoji(c) && !has::<EmojiPresentation>(c) => {
                !has::<EmojiComponent>(c) || after.first() == Some(&KEYCAP)
            }
            _ => false,
        },
        _ => false,
    }
}

fn has<P: icu_properties::props::BinaryProperty>(c: char) -> bool {
    CodePointSetData::new::<P>().contains(c)
}

fn is_emoji(c: char) -> bool {
    has::<Emoji>(c)
}

/// The text ends in a virama (Canonical_Combining_Class 9).
fn after_virama(before: &[char]) -> bool {
    before.last().is_some_and(|&c| {
        CodePointMapData::<CanonicalCombiningClass>::new().get(c) == CanonicalCombiningClass::Virama
    })
}

/// Joining_Type {L, D} followed by any number of T, at the end of `before`.
fn joins_left(before: &[char]) -> bool {
    let joining = CodePointMapData::<JoiningType>::new();
    before
        .iter()
        .rev()
        .map(|&c| joining.get(c))
        .find(|&t| t != JoiningType::Transparent)
        .is_some_and(|t| matches!(t, JoiningType::LeftJoining | JoiningType::DualJoining))
}

/// Any number of Joining_Type T, then {R, D}, at the start of `after`.
fn joins_right(after: &[char]) -> bool {
    let joining = CodePointMapData::<JoiningType>::new();
    after
        .iter()
        .map(|&c| joining.get(c))
        .find(|&t| t != JoiningType::Transparent)
        .is_some_and(|t| matches!(t, JoiningType::RightJoining | JoiningType::DualJoining))
}

/// `before` ends in an emoji a ZWJ sequence can continue: an Extended_Pictographic character,
/// alone, with U+FE0F, or an Emoji_Modifier_Base with its Emoji_Modifier.
fn ends_emoji(before: &[char]) -> bool {
    match before {
        [.., c] if has::<ExtendedPictographic>(*c) => true,
        [.., base, EMOJI_STYLE] => has::<ExtendedPictographic>(*base),
        [.., base, modifier] if has::<EmojiModifier>(*modifier) => has::<EmojiModifierBase>(*base),
        _ => false,
    }
}

/// `after` starts with an Extended_Pictographic character.
fn starts_emoji(after: &[char]) -> bool {
    after
        .first()
        .is_some_and(|&c| has::<ExtendedPictographic>(c))
}

/// Whether `c` looks like a space: White_Space, or U+2800 BRAILLE PATTERN BLANK (no property
/// marks its empty glyph, and it is the blank people paste to fake an empty or padded name).
pub fn is_blank(c: char) -> bool {
    CodePointSetData::new::<WhiteSpace>().contains(c) || c == '\u{2800}'
}

/// Whether `c` puts ink on the screen by itself: not blank, not a combining mark, not a format
/// or default-ignorable character (a joiner or selector allowed next to one does not count).
/// (Refused characters are checked separately.)
pub fn is_visible(c: char) -> bool {
    use GeneralCategory as Gc;
    !is_blank(c)
        && !matches!(
            CodePointMapData::<GeneralCategory>::new().get(c),
            Gc::NonspacingMark | Gc::EnclosingMark | Gc::Format
        )
        && !has::<DefaultIgnorableCodePoint>(c)
}

/// The form names are stored, compared and searched in: each run of blanks is one ASCII space,
/// the ends are trimmed, and the text is in NFC. Looking a name up or searching for it with this
/// form finds it however it was typed. It never refuses anything: [`crate::validate_name`] does.
pub fn canonical(raw: &str) -> String {
    let spaced = raw
        .split(is_blank)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    ComposingNormalizerBorrowed::new_nfc()
        .normalize(&spaced)
        .into_owned()
}

/// The form a name is searched in: [`canonical`], then Unicode case folding (full folding, so
/// "STRASSE" finds "Straße" and "ΣΑΣ" finds "σας"), then NFC again (folding can leave text
/// unnormalised). Search terms and the text they are matched against both take this form, so a
/// term of any length matches the same way, on every backend.
pub fn search_form(raw: &str) -> String {
    let folded = icu_casemap::CaseMapper::new()
        .fold_string(&canonical(raw))
        .into_owned();
    ComposingNormalizerBorrowed::new_nfc()
        .normalize(&folded)
        .into_owned()
}

/// What a key is found by in the list's search: its name and its handle (`kw_3fJk9QzP0a`) in
/// [`search_form`], one per line. A term never holds a line break (blanks become one space), so
/// no match spans the two.
pub fn key_search_text(name: &str, prefix: &str, id: &str) -> String {
    format!(
        "{}\n{}",
        search_form(name),
        search_form(&format!("{prefix}_{id}"))
    )
}

/// Whether `text` is in NFC (for the tests of names' stored form).
#[cfg(test)]
pub(crate) fn is_nfc(text: &str) -> bool {
    ComposingNormalizerBorrowed::new_nfc().is_normalized(text)
}

#[cfg(test)]
mod search_form_tests {
    use super::*;

    #[test]
    fn search_form_folds_case_beyond_ascii_and_normalises() {
        assert_eq!(search_form("  Billing   API "), "billing api");
        assert_eq!(search_form("STRASSE"), search_form("Straße"));
        assert_eq!(search_form("ÉTÉ"), search_form("e\u{301}te\u{301}"));
        assert_eq!(search_form("Ä"), "ä");
        assert_eq!(search_form("ΣΑΣ"), search_form("σας"));
    }

    #[test]
    fn key_search_text_keeps_name_and_handle_on_their_own_lines() {
        assert_eq!(
            key_search_text("Grafana Metrics", "kw", "3fJk9QzP0a"),
            "grafana metrics\nkw_3fjk9qzp0a"
        );
    }
}
