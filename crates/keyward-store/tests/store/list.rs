//! The key list: filters, a simple sort of each kind, and search.

use keyward_core::{ExpiryChoice, KeyPage, KeyUpdate, ListQuery, NewKey, Role, SortColumn};

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
    store
        .delete_keys(std::slice::from_ref(&billing.key.id))
        .await
        .expect("delete");
    assert!(search("edge").await.is_empty());
    assert!(search(&handle).await.is_empty());
}

on_both_backends!(
    the_list_filters_by_owner_role_and_expiry_and_sorts_any_column,
    search_finds_any_substring_of_the_name_or_handle_and_follows_renames_and_deletes,
);
