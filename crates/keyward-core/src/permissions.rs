//! What the UI offers an operator of each role, decided here once so the screens only read it.
//! The database enforces the same limits (PostgreSQL roles, grants and row policies); this only
//! keeps people from reaching for controls that would be refused, and tells them why.

use serde::Serialize;
use ts_rs::TS;

use crate::backend::OperatorRole;

/// For each kind of change: `None` when the operator may make it, else the one line the screen
/// shows instead of its controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Permissions {
    /// Create, edit, revoke and delete keys.
    pub change_keys: Option<String>,
    /// Give a new key (or move a key to) an owner other than the operator.
    pub choose_owner: Option<String>,
    /// Go past the per-owner limit of active keys.
    pub override_limit: Option<String>,
    /// Add and rename owners.
    pub change_owners: Option<String>,
    /// Change settings and usage plans.
    pub change_settings: Option<String>,
    /// Read the audit log (a key's history, the Audit log screen). A manager reads the part
    /// about their own keys and their own changes.
    pub read_audit: Option<String>,
}

const ADMINS_AND_MANAGERS_CHANGE_KEYS: &str = "Only admins and managers can change keys.";
const ADMINS_CHANGE_SETTINGS: &str = "Only admins can change settings.";
const ADMINS_CHANGE_OWNERS: &str = "Only admins can change owners.";
const ADMINS_OVERRIDE: &str = "Only admins can go past the limit.";
const MANAGERS_OWN_KEYS: &str = "Managers create and manage their own keys only.";
const ADMINS_AND_MANAGERS_READ_AUDIT: &str = "Only admins and managers can read the audit log.";

impl Permissions {
    /// Everything offered: an admin, SQLite (where the file's permissions are the only gate),
    /// and a role that could not be read (the database still refuses what it must, in words).
    pub fn everything() -> Self {
        Self {
            change_keys: None,
            choose_owner: None,
            override_limit: None,
            change_owners: None,
            change_settings: None,
            read_audit: None,
        }
    }

    pub fn of(role: Option<OperatorRole>) -> Self {
        let no = |why: &str| Some(why.to_owned());
        match role {
            None | Some(OperatorRole::Admin) => Self::everything(),
            Some(OperatorRole::Manager) => Self {
                change_keys: None,
                choose_owner: no(MANAGERS_OWN_KEYS),
                override_limit: no(ADMINS_OVERRIDE),
                change_owners: no(ADMINS_CHANGE_OWNERS),
                change_settings: no(ADMINS_CHANGE_SETTINGS),
                read_audit: None,
            },
            Some(OperatorRole::Verifier) => Self {
                change_keys: no(ADMINS_AND_MANAGERS_CHANGE_KEYS),
                choose_owner: no(ADMINS_AND_MANAGERS_CHANGE_KEYS),
                override_limit: no(ADMINS_OVERRIDE),
                change_owners: no(ADMINS_CHANGE_OWNERS),
                change_settings: no(ADMINS_CHANGE_SETTINGS),
                read_audit: no(ADMINS_AND_MANAGERS_READ_AUDIT),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_is_offered_what_its_database_role_allows() {
        assert_eq!(Permissions::of(None), Permissions::everything());
        assert_eq!(
            Permissions::of(Some(OperatorRole::Admin)),
            Permissions::everything()
        );
        let manager = Permissions::of(Some(OperatorRole::Manager));
        assert_eq!(manager.change_keys, None, "managers change their own keys");
        assert_eq!(
            manager.change_settings.as_deref(),
            Some("Only admins can change settings.")
        );
        assert!(manager.choose_owner.is_some() && manager.override_limit.is_some());
        assert!(manager.change_owners.is_some());
        assert_eq!(manager.read_audit, None, "managers read their own history");
        let verifier = Permissions::of(Some(OperatorRole::Verifier));
        for refused in [
            &verifier.change_keys,
            &verifier.choose_owner,
            &verifier.override_limit,
            &verifier.change_owners,
            &verifier.change_settings,
            &verifier.read_audit,
        ] {
            assert!(refused.as_ref().is_some_and(|why| why.ends_with('.')));
        }
    }
}
