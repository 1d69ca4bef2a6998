//! The Secrets Manager secret of a backup-set sandbox in AWS: its role's credentials in the RDS
//! JSON shape (`username`, `password`, `host`, `port`, `dbname`), so `drill aws sandbox connect`
//! reads it as it reads an RDS sandbox's managed secret, with the caller's own rights. Tagged as
//! the sandbox (role, owner, source, expiry); deleted only through
//! [`drill_core::sandboxdb::check_secret_drop`].

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use drill_core::events::ConnectionSpec;
use drill_core::sandboxdb::{self, SandboxDropPolicy, SandboxMarker};

use super::SandboxError;
use crate::pg::Credentials;

fn failed(what: &str, e: impl std::error::Error) -> SandboxError {
    SandboxError::Aws(format!("{what}: {}", DisplayErrorContext(e)))
}

/// The tag holding STS's UserId of the owner, compared with `aws:userid` by the sandbox users'
/// policy (infra/sandbox.tf), so that only the owner may read the secret.
pub const OWNER_ID: &str = "drill:owner-id";

/// The sandbox's tags (what the IAM conditions and the delete guards read).
pub fn tags(marker: &SandboxMarker, owner_id: &str) -> BTreeMap<String, String> {
    use drill_core::guards::tag;
    [
        (tag::ROLE, drill_core::sandbox::ROLE_SANDBOX.to_owned()),
        (drill_core::sandbox::OWNER, marker.owner.clone()),
        (OWNER_ID, owner_id.to_owned()),
        (tag::SOURCE, marker.source_id.clone()),
        (tag::EXPIRES_AT, tag::expires_at_value(marker.expires_at)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Creates the secret `<prefix><sandbox>`; returns its ARN.
pub async fn create(
    client: &Client,
    secret_prefix: &str,
    marker: &SandboxMarker,
    owner_id: &str,
    server: &ConnectionSpec,
    credentials: &Credentials,
    kms_key_id: Option<&str>,
) -> Result<String, SandboxError> {
    let name =
        sandboxdb::secret_name(secret_prefix, &marker.database).map_err(SandboxError::Setting)?;
    let body = serde_json::json!({
        "engine": "postgres",
        "username": credentials.username,
        "password": credentials.password(),
        "host": server.host,
        "port": server.port,
        "dbname": marker.database,
    });
    let out = client
        .create_secret()
        .name(&name)
        .description(format!(
            "restore-drill sandbox {} of {} for {}",
            marker.database, marker.source_id, marker.owner
        ))
        .secret_string(body.to_string())
        .set_kms_key_id(kms_key_id.map(str::to_owned))
        .set_tags(Some(
            tags(marker, owner_id)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| failed(&format!("creating the sandbox secret {name}"), e))?;
    Ok(out.arn().unwrap_or(&name).to_owned())
}

/// Deletes the sandbox's secret at once (no recovery window: the role it names is gone), behind
/// the guards; `false` when there is none.
pub async fn delete(
    client: &Client,
    secret_prefix: &str,
    sandbox: &str,
    policy: &SandboxDropPolicy,
) -> Result<bool, SandboxError> {
    let name = sandboxdb::secret_name(secret_prefix, sandbox).map_err(SandboxError::Setting)?;
    let described = match client.describe_secret().secret_id(&name).send().await {
        Ok(d) => d,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(false)
        }
        Err(e) => return Err(failed(&format!("describing the sandbox secret {name}"), e)),
    };
    let tags: BTreeMap<String, String> = described
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect();
    let actual = described.name().unwrap_or_default();
    sandboxdb::check_secret_drop(secret_prefix, sandbox, actual, &tags, policy).map_err(
        |refusals| SandboxError::DropRefused {
            name: actual.to_owned(),
            refusals,
        },
    )?;
    client
        .delete_secret()
        .secret_id(described.arn().unwrap_or(&name))
        .force_delete_without_recovery(true)
        .send()
        .await
        .map_err(|e| failed(&format!("deleting the sandbox secret {name}"), e))?;
    Ok(true)
}
