//! The existence check of `drill plan-check`: for each planned create with a known identity, ask
//! AWS read-only whether the resource already exists. One that does is in the account but not in
//! the plan's state — the missing- or stale-state warning sign of the 2026 incident.
//!
//! Read-only actions used (the shipped policy `infra/examples/plan-gate/plan-check-readonly.json`):
//! `rds:DescribeDBInstances`, `rds:DescribeDBClusters`, `rds:DescribeDBSnapshots`,
//! `rds:DescribeDBClusterSnapshots`, `s3:ListBucket` (what HeadBucket needs),
//! `dynamodb:DescribeTable`, `elasticfilesystem:DescribeFileSystems`, `backup:DescribeBackupVault`,
//! `kms:ListAliases`.

use aws_config::{Region, SdkConfig};
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use drill_core::plan::{Existing, Identity, Probe};
use drill_core::{Classified, ErrorKind};

/// A look-up AWS did not answer: the check cannot conclude, so it fails (never passes silently).
#[derive(Debug, thiserror::Error)]
#[error("existence check of {address} ({what}) failed: {detail}")]
pub struct ProbeError {
    pub address: String,
    pub what: String,
    pub detail: String,
    pub transient: bool,
}

impl Classified for ProbeError {
    fn kind(&self) -> ErrorKind {
        if self.transient {
            ErrorKind::Transient
        } else {
            ErrorKind::CouldNotRun
        }
    }
}

fn sdk_error<E, R>(probe: &Probe, what: &str, err: &SdkError<E, R>) -> ProbeError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let transient = matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
    );
    let detail = match err {
        SdkError::ServiceError(e) => format!(
            "{}: {}",
            e.err().code().unwrap_or("error"),
            e.err().message().unwrap_or("")
        ),
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    };
    ProbeError {
        address: probe.address.clone(),
        what: what.into(),
        detail,
        transient,
    }
}

/// The answer of one describe call: found when `listed` says the reply names the resource, `None`
/// when AWS answers with its own "no such resource" error (`not_found`), a [`ProbeError`] on any
/// other failure.
fn answer<T, E, R>(
    p: &Probe,
    what: &str,
    result: Result<T, SdkError<E, R>>,
    listed: impl FnOnce(&T) -> bool,
    not_found: impl FnOnce(&E) -> bool,
) -> Result<Option<String>, ProbeError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(r) if listed(&r) => Ok(Some(format!("{what} found"))),
        Ok(_) => Ok(None),
        Err(e) if e.as_service_error().is_some_and(not_found) => Ok(None),
        Err(e) => Err(sdk_error(p, what, &e)),
    }
}

fn config_for(base: &SdkConfig, region: Option<&str>) -> SdkConfig {
    match region {
        Some(r) => base.to_builder().region(Region::new(r.to_owned())).build(),
        None => base.clone(),
    }
}

/// Asks AWS about every probe; returns the ones that exist.
pub async fn find_existing(
    base: &SdkConfig,
    probes: &[Probe],
) -> Result<Vec<Existing>, ProbeError> {
    let mut out = Vec::new();
    for p in probes {
        let config = config_for(base, p.region.as_deref());
        if let Some(evidence) = exists(&config, p).await? {
            out.push(Existing {
                address: p.address.clone(),
                resource_type: p.resource_type.clone(),
                identity: p.identity.clone(),
                evidence,
            });
        }
    }
    Ok(out)
}

/// `Some(evidence)` when the resource exists.
async fn exists(config: &SdkConfig, p: &Probe) -> Result<Option<String>, ProbeError> {
    let found = |what: &str| Ok(Some(format!("{what} found")));
    match &p.identity {
        Identity::DbInstance(id) => {
            let what = "DescribeDBInstances";
            let rds = crate::aws::rds_client(config);
            let result = rds
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await;
            answer(
                p,
                what,
                result,
                |r| !r.db_instances().is_empty(),
                |e| e.is_db_instance_not_found_fault(),
            )
        }
        Identity::DbCluster(id) => {
            let what = "DescribeDBClusters";
            let rds = crate::aws::rds_client(config);
            let result = rds
                .describe_db_clusters()
                .db_cluster_identifier(id)
                .send()
                .await;
            answer(
                p,
                what,
                result,
                |r| !r.db_clusters().is_empty(),
                |e| e.is_db_cluster_not_found_fault(),
            )
        }
        Identity::DbSnapshot(id) => {
            let what = "DescribeDBSnapshots";
            let rds = crate::aws::rds_client(config);
            let result = rds
                .describe_db_snapshots()
                .db_snapshot_identifier(id)
                .send()
                .await;
            answer(
                p,
                what,
                result,
                |r| !r.db_snapshots().is_empty(),
                |e| e.is_db_snapshot_not_found_fault(),
            )
        }
        Identity::DbClusterSnapshot(id) => {
            let what = "DescribeDBClusterSnapshots";
            let rds = crate::aws::rds_client(config);
            let result = rds
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await;
            answer(
                p,
                what,
                result,
                |r| !r.db_cluster_snapshots().is_empty(),
                |e| e.is_db_cluster_snapshot_not_found_fault(),
            )
        }
        Identity::S3Bucket(name) => {
            let what = "HeadBucket";
            let s3 = crate::aws::s3_client(config);
            match s3.head_bucket().bucket(name).send().await {
                Ok(_) => found(what),
                Err(e) => {
                    // HeadBucket has no error body: only the status tells. 404 is "no such
                    // bucket"; 403 and 301 mean the name exists (another account's bucket, or one
                    // in another region) — a create of this name would fail either way.
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    match status {
                        Some(404) => Ok(None),
                        Some(403) => Ok(Some(
                            "HeadBucket 403: the name exists (another account's bucket, or not \
                             readable with these credentials)"
                                .into(),
                        )),
                        Some(301) => Ok(Some(
                            "HeadBucket 301: the bucket exists in another region".into(),
                        )),
                        _ => Err(sdk_error(p, what, &e)),
                    }
                }
            }
        }
        Identity::DynamodbTable(name) => {
            let what = "DescribeTable";
            let ddb = aws_sdk_dynamodb::Client::new(config);
            let result = ddb.describe_table().table_name(name).send().await;
            answer(
                p,
                what,
                result,
                |_| true,
                |e| e.is_resource_not_found_exception(),
            )
        }
        Identity::EfsFileSystem(token) => {
            // Filtered by creation token, AWS answers a (possibly empty) list, not a 404.
            let what = "DescribeFileSystems";
            let efs = aws_sdk_efs::Client::new(config);
            match efs
                .describe_file_systems()
                .creation_token(token)
                .send()
                .await
            {
                Ok(r) => match r.file_systems().first() {
                    Some(fs) => Ok(Some(format!("{what} found {}", fs.file_system_id()))),
                    None => Ok(None),
                },
                Err(e) => Err(sdk_error(p, what, &e)),
            }
        }
        Identity::BackupVault(name) => {
            let what = "DescribeBackupVault";
            let backup = aws_sdk_backup::Client::new(config);
            let result = backup
                .describe_backup_vault()
                .backup_vault_name(name)
                .send()
                .await;
            answer(
                p,
                what,
                result,
                |_| true,
                |e| e.is_resource_not_found_exception(),
            )
        }
        Identity::KmsAlias(name) => {
            // ListAliases rather than DescribeKey("alias/..."): it needs no right on the key
            // itself, and an alias of a key scheduled for deletion still blocks the create.
            let what = "ListAliases";
            let kms = aws_sdk_kms::Client::new(config);
            let mut marker = None;
            loop {
                let r = kms
                    .list_aliases()
                    .set_marker(marker.take())
                    .send()
                    .await
                    .map_err(|e| sdk_error(p, what, &e))?;
                if r.aliases().iter().any(|a| a.alias_name() == Some(name)) {
                    return found(what);
                }
                match r.next_marker().filter(|_| r.truncated()) {
                    Some(m) => marker = Some(m.to_owned()),
                    None => return Ok(None),
                }
            }
        }
    }
}
