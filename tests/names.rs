//! Names people cannot tell apart (issue 9), through the real `keyward-cli`: "José" typed with a
//! composed "é" or with "e" and a combining accent is one owner, with one limit, and one search;
//! a name that looks like "alice" but hides an invisible character is refused.

use crate::util::{cli, json, list_keys, stderr, temp_db};

/// "José" with U+00E9, and with "e" + U+0301 COMBINING ACUTE ACCENT.
const COMPOSED: &str = "Jos\u{E9}";
const DECOMPOSED: &str = "Jose\u{301}";

fn key_names(db: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = list_keys(db, args).into_iter().map(|k| k.name).collect();
    names.sort();
    names
}

#[test]
fn jose_composed_and_decomposed_is_one_owner_with_one_limit_and_one_search() {
    let (_dir, db) = temp_db();
    let created = cli(&db, &["owners", "create", COMPOSED]);
    assert!(created.status.success(), "{created:?}");
    let again = cli(&db, &["owners", "create", DECOMPOSED]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(stderr(&again).contains("already exists"), "{again:?}");
    let owners = json(&cli(&db, &["--json", "owners", "list"]));
    let names: Vec<&str> = owners
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, [COMPOSED]);

    // Five keys, named and owned in alternating forms, all count against the one owner.
    for i in 0..5 {
        let form = if i % 2 == 0 { COMPOSED } else { DECOMPOSED };
        let name = format!("{form} {i}");
        let out = cli(&db, &["keys", "create", "--name", &name, "--owner", form]);
        assert!(out.status.success(), "key {i}: {out:?}");
    }
    for form in [COMPOSED, DECOMPOSED] {
        let refused = cli(&db, &["keys", "create", "--name", "sixth", "--owner", form]);
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        assert!(
            stderr(&refused).contains("has 5 of 5 active keys"),
            "{refused:?}"
        );
    }
    let owners = json(&cli(&db, &["--json", "owners", "list"]));
    assert_eq!(owners[0]["active_keys"], 5, "{owners}");

    // Stored composed, so searching in either form (the trigram index for 3+ characters, LIKE
    // for fewer) and filtering by either form of the owner finds all five.
    let all: Vec<String> = (0..5).map(|i| format!("{COMPOSED} {i}")).collect();
    for args in [
        ["--search", COMPOSED],
        ["--search", DECOMPOSED],
        ["--search", "s\u{E9}"],
        ["--search", "se\u{301}"],
        ["--search", "\u{E9}"],
        ["--search", "e\u{301}"],
        ["--owner", COMPOSED],
        ["--owner", DECOMPOSED],
    ] {
        assert_eq!(key_names(&db, &args), all, "{args:?}");
    }
}

#[test]
fn an_alice_with_an_invisible_character_is_refused() {
    let (_dir, db) = temp_db();
    assert!(cli(&db, &["owners", "create", "alice"]).status.success());
    // Format characters (General_Category Cf) the old hand list let through, and a Hangul filler
    // (a letter, but Default_Ignorable_Code_Point): each displays as "alice".
    for look_alike in [
        "ali\u{1D173}ce",
        "alice\u{1BCA1}",
        "\u{13437}alice",
        "al\u{FFFB}ice",
        "alice\u{3164}",
    ] {
        for args in [
            vec!["owners", "create", look_alike],
            vec!["owners", "rename", "alice", look_alike],
            vec!["keys", "create", "--name", look_alike, "--owner", "alice"],
        ] {
            let out = cli(&db, &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
            assert!(
                stderr(&out).contains("invisible or text-direction"),
                "{args:?}: {out:?}"
            );
        }
    }
    // Blank-looking characters are spaces: trimmed, so "alice⠀" is "alice", which exists.
    let padded = cli(&db, &["owners", "create", "alice\u{2800}"]);
    assert_eq!(padded.status.code(), Some(2), "{padded:?}");
    assert!(stderr(&padded).contains("already exists"), "{padded:?}");
    for blank in ["\u{2800}", "\u{3000}\u{A0}"] {
        let out = cli(&db, &["owners", "create", blank]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(stderr(&out).contains("Give the owner a name"), "{out:?}");
    }
    let owners = json(&cli(&db, &["--json", "owners", "list"]));
    assert_eq!(owners.as_array().map(Vec::len), Some(1), "{owners}");
    assert_eq!(key_names(&db, &[]), Vec::<String>::new());
}

#[test]
fn a_persian_name_keeps_the_non_joiner_it_needs_and_alice_still_cannot_hide_one() {
    let (_dir, db) = temp_db();
    // "Alireza": ZERO WIDTH NON-JOINER between YEH (joins on both sides) and REH (on the right).
    let alireza = "\u{639}\u{644}\u{6CC}\u{200C}\u{631}\u{636}\u{627}";
    // Persian "I want", a heart in emoji style, and a family joined with ZWJ.
    let key = concat!(
        "\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}",
        " \u{2764}\u{FE0F} ",
        "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
    );
    let created = cli(&db, &["owners", "create", alireza]);
    assert!(created.status.success(), "{created:?}");
    let out = cli(&db, &["keys", "create", "--name", key, "--owner", alireza]);
    assert!(out.status.success(), "{out:?}");
    let owners = json(&cli(&db, &["--json", "owners", "list"]));
    assert_eq!(owners[0]["name"], alireza, "{owners}");
    assert_eq!(owners[0]["active_keys"], 1, "{owners}");
    assert_eq!(key_names(&db, &["--owner", alireza]), [key]);

    for look_alike in ["ali\u{200C}ce", "alice\u{200D}", "\u{FE0F}alice"] {
        let out = cli(&db, &["owners", "create", look_alike]);
        assert_eq!(out.status.code(), Some(2), "{look_alike:?}: {out:?}");
        assert!(
            stderr(&out).contains("invisible or text-direction"),
            "{look_alike:?}: {out:?}"
        );
    }
}
