//! When is a temporary RDS instance ready to validate?
//!
//! RDS does not create a managed master secret on `RestoreDBInstanceFromDBSnapshot` (its
//! `ManageMasterUserPassword` "applies to RDS for Oracle only"), so an available PostgreSQL temp
//! first needs one turned on with `ModifyDBInstance`; after that the instance goes through
//! `modifying` and its `MasterUserSecret` through `creating` before the secret is `active`. Only
//! then can validate log in.
//!
//! [`normalize_status`] maps the raw instance status to the wait loop's states first.

use crate::events::TempState;

/// The `MasterUserSecret.SecretStatus` values of the RDS API.
pub const SECRET_ACTIVE: &str = "active";
pub const SECRET_IMPAIRED: &str = "impaired";

/// Maps an RDS `DBInstanceStatus` to the state machine's four states. Transitional states wait;
/// states the instance will not leave on its own fail the drill; unknown states wait (the state
/// machine's overall timeout still ends the drill).
pub fn normalize_status(raw: &str) -> TempState {
    match raw {
        // Fully operational while storage is optimised.
        "available" | "storage-optimization" => TempState::Available,
        "deleting" | "deleted" => TempState::Gone,
        "failed"
        | "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable"
        | "incompatible-network"
        | "incompatible-option-group"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "insufficient-capacity"
        | "restore-error"
        | "storage-full"
        | "stopped"
        | "stopping" => TempState::Failed,
        _ => TempState::Creating,
    }
}

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
    fn status_normalization_covers_states_moto_never_shows() {
        for (raw, want) in [
            ("creating", Creating),
            ("backing-up", Creating),
            ("modifying", Creating),
            ("configuring-enhanced-monitoring", Creating),
            ("rebooting", Creating),
            ("starting", Creating),
            ("some-new-state", Creating),
            ("available", Available),
            ("storage-optimization", Available),
            ("failed", Failed),
            ("incompatible-restore", Failed),
            ("incompatible-network", Failed),
            ("restore-error", Failed),
            ("storage-full", Failed),
            ("stopped", Failed),
            ("deleting", Gone),
            ("deleted", Gone),
        ] {
            assert_eq!(normalize_status(raw), want, "{raw}");
        }
    }

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
