//! When is a temporary RDS instance ready to validate?
//!
//! RDS does not create a managed master secret on `RestoreDBInstanceFromDBSnapshot` (its
//! `ManageMasterUserPassword` "applies to RDS for Oracle only"), so an available PostgreSQL temp
//! first needs one turned on with `ModifyDBInstance`; after that the instance goes through
//! `modifying` and its `MasterUserSecret` through `creating` before the secret is `active`. Only
//! then can validate log in.

use crate::events::TempState;

/// The `MasterUserSecret.SecretStatus` values of the RDS API.
pub const SECRET_ACTIVE: &str = "active";
pub const SECRET_IMPAIRED: &str = "impaired";

/// The wait loop's state of a temp instance, and a detail for the report.
///
/// `base` is the instance status normalized to the four states, `raw` the RDS status,
/// `secret_status` the status of its managed master secret (`None`: it has none).
pub fn readiness(
    base: TempState,
    raw: &str,
    has_endpoint: bool,
    secret_status: Option<&str>,
) -> (TempState, String) {
    if base != TempState::Available {
        return (base, raw.to_owned());
    }
    match secret_status {
        None => (
            TempState::SecretNeeded,
            format!("{raw}; no RDS-managed master secret yet"),
        ),
        // RDS cannot use or rotate the secret (its KMS key, say): it will not heal on its own.
        Some(SECRET_IMPAIRED) => (
            TempState::Failed,
            format!("{raw}; master secret {SECRET_IMPAIRED}"),
        ),
        Some(SECRET_ACTIVE) if has_endpoint => (TempState::Available, raw.to_owned()),
        Some(SECRET_ACTIVE) => (TempState::Creating, format!("{raw}; no endpoint yet")),
        Some(other) => (TempState::Creating, format!("{raw}; master secret {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TempState::*;

    #[test]
    fn validate_only_once_the_secret_is_active() {
        for (base, raw, endpoint, secret, want) in [
            (Creating, "creating", false, None, Creating),
            (Creating, "modifying", true, Some("creating"), Creating),
            (Failed, "incompatible-restore", true, None, Failed),
            (Gone, "deleting", true, Some("active"), Gone),
            // Restored without a secret (every non-Oracle restore): turn one on.
            (Available, "available", true, None, SecretNeeded),
            (Available, "available", false, None, SecretNeeded),
            (Available, "available", true, Some("creating"), Creating),
            (Available, "available", true, Some("rotating"), Creating),
            (Available, "available", false, Some("active"), Creating),
            (Available, "available", true, Some("impaired"), Failed),
            (Available, "available", true, Some("active"), Available),
        ] {
            assert_eq!(
                readiness(base, raw, endpoint, secret).0,
                want,
                "{raw} {endpoint} {secret:?}"
            );
        }
        assert!(readiness(Available, "available", true, None)
            .1
            .contains("no RDS-managed master secret"));
    }
}
