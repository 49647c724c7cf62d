//! The key list: filters, a simple sort of each kind, and search.

use keyward_core::{ExpiryChoice, KeyPage, KeyUpdate, ListQuery, NewKey, Role, SortColumn, Store};

use crate::harness::Db;

async fn the_list_filters_by_owner_role_and_expiry_and_sorts_any_column(db: Db) {
    let store = db.open().await;
    store.create_owner("Eve").await.expect("owner");
    let mut soon = NewKey::named("b soon")
        .owned_by("Eve")
        .expiring(ExpiryChoice::Days(7));
    soon.role = Role::Admin;
    store.create_key(soon).await.expect("create");
    store
        .create_key(NewKey::named("a later").expiring(ExpiryChoice::Days(30)))
        .await
        .expect("create");
    store
        .create_key(NewKey::named("C never").expiring(ExpiryChoice::Never))
        .await
        .expect("create");

    let names = |page: KeyPage| page.keys.into_iter().map(|k| k.name).collect::<Vec<_>>();
    let by = |q: ListQuery| {
        let store = store.clone();
        async move { store.list_keys(&q).await.expect("list") }
    };
    let soon_only = by(ListQuery {
        expiring_within_days: Some(7),
        ..ListQuery::default()
    })
    .await;
    assert_eq!(names(soon_only), ["b soon"]);
    let admins = by(ListQuery {
        role: Some(Role::Admin),
        ..ListQuery::default()
    })
    .await;
    assert_eq!(names(admins), ["b soon"]);
    let eves = by(ListQuery {
        owner: Some("EVE".into()),
        ..ListQuery::default()
    })
    .await;
    assert_eq!(eves.total, 1);
    let by_name = by(ListQuery {
        sort: SortColumn::Name,
        descending: false,
        ..ListQuery::default()
    })
    .await;
    assert_eq!(names(by_name), ["a later", "b soon", "C never"]);
    let by_expiry = by(ListQuery {
        sort: SortColumn::Expires,
        descending: false,
        ..ListQuery::default()
    })
    .await;
    assert_eq!(names(by_expiry), ["b soon", "a later", "C never"]);
    let by_owner = by(ListQuery {
        sort: SortColumn::Owner,
        descending: false,
        ..ListQuery::default()
    })
    .await;
    // Owners without case ("admin" before "Eve"; on PostgreSQL the creator is the login, which
    // may sort either side of "Eve"), then by creation.
    let creator = store.actor().to_owned();
    let mut owners = vec![creator.clone(), creator, "Eve".to_owned()];
    owners.sort_by_key(|o| o.to_ascii_lowercase());
    let listed: Vec<String> = by_owner.keys.into_iter().map(|k| k.owner).collect();
    assert_eq!(listed, owners);
}

async fn search_finds_any_substring_of_the_name_or_handle_and_follows_renames_and_deletes(db: Db) {
    let store = db.open().await;
    let billing = store
        .create_key(NewKey::named("Billing-API \"prod\" 100%"))
        .await
        .expect("create");
    store
        .create_key(NewKey::named("reporting"))
        .await
        .expect("create");
    let search = |term: &str| {
        let (store, term) = (store.clone(), term.to_owned());
        async move {
            let page = store
                .list_keys(&ListQuery {
                    search: Some(term),
                    ..ListQuery::default()
                })
                .await
                .expect("list");
            assert_eq!(page.total as usize, page.keys.len());
            let mut names: Vec<String> = page.keys.into_iter().map(|k| k.name).collect();
            names.sort();
            names
        }
    };
    let name = "Billing-API \"prod\" 100%";
    // Terms of one letter, a trigram and longer, in any ASCII case, with quotes and `%`: a
    // wildcard in a term matches only itself.
    for term in [
        "ling-a", "BILLING", "\"prod\"", "100%", "porting", "r", "%", "0%",
    ] {
        let expected: Vec<&str> = [name, "reporting"]
            .into_iter()
            .filter(|n| n.to_lowercase().contains(&term.to_lowercase()))
            .collect();
        assert_eq!(search(term).await, expected, "{term:?}");
    }
    let handle = format!("kw_{}", &billing.key.id[..5]);
    assert_eq!(search(&handle).await, [name]);
    assert_eq!(search(&billing.key.id[3..9]).await, [name]);

    store
        .update_key(
            &billing.key.id,
            KeyUpdate {
                name: Some("ledger".into()),
                ..KeyUpdate::default()
            },
        )
        .await
        .expect("rename");
    assert!(search("billing").await.is_empty());
    assert_eq!(search("edge").await, ["ledger"]);
    // A rename that keeps most of the name keeps it found by what it kept and by what it added.
    store
        .update_key(
            &billing.key.id,
            KeyUpdate {
                name: Some("ledgers".into()),
                ..KeyUpdate::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(search("dger").await, ["ledgers"]);
    assert_eq!(search("edgers").await, ["ledgers"]);
    store
        .delete_keys(std::slice::from_ref(&billing.key.id))
        .await
        .expect("delete");
    assert!(search("edge").await.is_empty());
    assert!(search("dger").await.is_empty());
    assert!(search(&handle).await.is_empty());
}

/// The names of the keys a search finds (all on one page), sorted; the total must be exact.
async fn found(store: &Store, term: &str) -> Vec<String> {
    let page = store
        .list_keys(&ListQuery {
            search: Some(term.to_owned()),
            ..ListQuery::default()
        })
        .await
        .expect("list");
    assert!(page.total_exact, "{term:?}");
    assert_eq!(page.total as usize, page.keys.len(), "{term:?}");
    let mut names: Vec<String> = page.keys.into_iter().map(|k| k.name).collect();
    names.sort();
    names
}

async fn search_folds_case_and_accents_alike_for_terms_of_every_length(db: Db) {
    let store = db.open().await;
    for name in ["Straße Ölfeld", "ΣΟΦΙΑ api", "Café", "plain"] {
        store.create_key(NewKey::named(name)).await.expect("create");
    }
    let cases: [(&str, &[&str]); 10] = [
        // One and two characters are folded exactly as longer terms are, beyond ASCII. (No
        // term here is plain ASCII letters and digits of fewer than four: random handles
        // hold those.)
        ("Ö", &["Straße Ölfeld"]),
        ("ö", &["Straße Ölfeld"]),
        ("aSSe", &["Straße Ölfeld"]),
        ("σ", &["ΣΟΦΙΑ api"]),
        ("ΟΦ", &["ΣΟΦΙΑ api"]),
        ("É", &["Café"]),
        // A decomposed é (e and a combining accent) is the same term.
        ("e\u{301}", &["Café"]),
        ("STRASSE", &["Straße Ölfeld"]),
        ("sofia", &[]),
        ("A", &["Café", "Straße Ölfeld", "plain", "ΣΟΦΙΑ api"]),
    ];
    for (term, expected) in cases {
        assert_eq!(found(&store, term).await, expected, "{term:?}");
    }
}

async fn a_search_matching_thousands_counts_a_thousand_at_a_time(db: Db) {
    let store = db.open().await;
    store.seed_keys(2_500).await.expect("seed");
    let page = |search: Option<&str>, offset: u32| {
        let store = store.clone();
        let search = search.map(str::to_owned);
        async move {
            store
                .list_keys(&ListQuery {
                    search,
                    offset,
                    limit: 50,
                    ..ListQuery::default()
                })
                .await
                .expect("list")
        }
    };
    // Every handle holds "kw_": at least 1,000, a page of 50 shown.
    let first = page(Some("kw_"), 0).await;
    assert_eq!(
        (first.total, first.total_exact, first.keys.len()),
        (1_000, false, 50)
    );
    // Scrolling near the bound raises it by a step.
    let near = page(Some("KW_"), 960).await;
    assert_eq!(
        (near.total, near.total_exact, near.keys.len()),
        (2_000, false, 50)
    );
    // Once the bound passes every match, the total is exact.
    let last = page(Some("kw_"), 2_480).await;
    assert_eq!(
        (last.total, last.total_exact, last.keys.len()),
        (2_500, true, 20)
    );
    // Without a search the total is always counted.
    let all = page(None, 0).await;
    assert_eq!((all.total, all.total_exact), (2_500, true));
    // The pages of a bounded search hold the same keys as the list without one.
    let unsearched = page(None, 960).await;
    let ids = |p: &KeyPage| p.keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&near), ids(&unsearched));
}

async fn keys_without_search_text_get_it_when_the_database_is_opened(db: Db) {
    let store = db.open().await;
    store
        .create_key(NewKey::named("Ölfeld"))
        .await
        .expect("create");
    drop(store);
    // As migration 0009 (SQLite) or 0005 (PostgreSQL) leaves keys whose names are not ASCII.
    db.execute("UPDATE api_keys SET search_text = NULL").await;
    let store = db.open().await;
    assert_eq!(found(&store, "ö").await, ["Ölfeld"]);
    assert_eq!(found(&store, "ÖLF").await, ["Ölfeld"]);
}

on_both_backends!(
    the_list_filters_by_owner_role_and_expiry_and_sorts_any_column,
    search_finds_any_substring_of_the_name_or_handle_and_follows_renames_and_deletes,
    search_folds_case_and_accents_alike_for_terms_of_every_length,
    a_search_matching_thousands_counts_a_thousand_at_a_time,
    keys_without_search_text_get_it_when_the_database_is_opened,
);
