//! The status of a temp instance for the wait loop: one describe, guards (a)–(d), never a wait.

use chrono::{DateTime, Utc};
use drill_core::events::{
    ConnectionSpec, DrillContext, SecretRef, StatusReport, TempState, TlsMode,
};
use drill_core::guards::{self, Caller};
use drill_core::temp_readiness;

use super::facts::{describe_instance, instance_facts};
use super::{guard_error, Client, RdsError, RdsSettings};

/// The status of a temp instance for the wait loop: one describe, never a wait.
///
/// Read-only, but still checked against guards (a)–(d): a status call naming an instance the
/// drill did not make (production, say) must not hand its endpoint to validate and export.
/// `since` starts the wait budget (the restore's start; `None`: the drill's).
#[allow(clippy::too_many_arguments)]
pub async fn status(
    client: &Client,
    settings: &RdsSettings,
    drill: &DrillContext,
    identifier: &str,
    database: &str,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<StatusReport, RdsError> {
    let elapsed_seconds = (now - since.unwrap_or(drill.started_at))
        .num_seconds()
        .max(0) as u64;
    let Some(db) = describe_instance(client, identifier).await? else {
        return Ok(StatusReport {
            state: TempState::Gone,
            connection: None,
            elapsed_seconds,
            detail: "not found".into(),
        });
    };
    let facts = instance_facts(&db);
    let policy = settings.guard_policy_for(Some(&drill.source_id), &facts);
    let caller = Caller::Execution {
        drill_id: drill.drill_id.clone(),
        started_at: drill.started_at,
    };
    let failures = guards::check_read(&policy, &caller, &facts);
    if !failures.is_empty() {
        return Err(guard_error(identifier, &failures));
    }
    let raw = db.db_instance_status().unwrap_or("unknown").to_owned();
    let endpoint = db
        .endpoint()
        .and_then(|e| Some((e.address()?.to_owned(), e.port()?)));
    let secret = db.master_user_secret();
    let secret_arn = secret.and_then(|s| s.secret_arn());
    // A secret without an ARN is no secret validate could read.
    let secret_status =
        secret_arn.map(|_| secret.and_then(|s| s.secret_status()).unwrap_or("unknown"));
    let (state, detail) = temp_readiness::readiness(
        temp_readiness::normalize_status(&raw),
        &raw,
        endpoint.is_some(),
        secret_status,
    );
    let connection = match (state, endpoint, secret_arn) {
        (TempState::Available, Some((host, port)), Some(arn)) => Some(ConnectionSpec {
            host,
            port: u16::try_from(port).unwrap_or(5432),
            database: database.to_owned(),
            secret: SecretRef::SecretsManager {
                secret_id: arn.to_owned(),
            },
            tls: TlsMode::VerifyFull,
        }),
        _ => None,
    };
    Ok(StatusReport {
        state,
        connection,
        elapsed_seconds,
        detail,
    })
}
