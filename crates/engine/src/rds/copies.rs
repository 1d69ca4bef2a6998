//! The drill's snapshot copies: copying (within or across regions), sharing with configured
//! accounts, and expiring old copies, each behind the copy guards of [`drill_core::snapshots`].
//! One implementation for an instance's snapshots and an Aurora cluster's ([`SnapshotOf`]):
//! the calls differ only in name ([`super::snapshot_api`]).

use chrono::{DateTime, Duration, Utc};
use drill_core::events::{DrillContext, Refusal, SnapshotSelector};
use drill_core::guards::tag;
use drill_core::snapshots::{self, CopyPolicy, SnapshotFacts, SnapshotOf};
use serde::Serialize;

use super::snapshot_api;
use super::{check_reuse, temp_identifier, Client, RdsError, RdsSettings};

/// A drill-made copy of a source's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOutcome {
    /// The snapshot copied (identifier, or ARN when it came from another region or account).
    pub source_snapshot: String,
    pub copy: String,
    /// Region the copy was made in.
    pub region: String,
    pub expires_at: DateTime<Utc>,
    /// False when this execution had already made the copy (a retry).
    pub created: bool,
    /// Drill copies of this source newly shared with the `share_with` accounts by this call
    /// (this copy, or an earlier one that was still being copied when it was made).
    pub shared: Vec<String>,
    /// Drill copies not shareable yet because RDS is still copying them; a later run shares them.
    pub share_pending: Vec<String>,
}

/// Where a copy goes: the region of `client` (the source's client for a copy within the region),
/// encrypted with `kms_key_id` (a key of that region), then shared with `share_with` accounts,
/// which can restore it or copy it into their own account (by ARN, with
/// [`SnapshotSelector::Id`]).
#[derive(Debug, Clone, Copy)]
pub struct CopyTarget<'a> {
    pub client: &'a Client,
    pub kms_key_id: Option<&'a str>,
    pub share_with: &'a [String],
}

/// A client like `base` (credentials, endpoint, retries) for another region: the destination of
/// a cross-region copy.
pub fn client_in_region(base: &Client, region: &str) -> Client {
    Client::from_conf(
        base.config()
            .to_builder()
            .region(aws_sdk_rds::config::Region::new(region.to_owned()))
            .build(),
    )
}

/// The client for snapshot copies: `base` itself, or one for `region` when it is given.
pub fn client_for_region(base: &Client, region: Option<&str>) -> Client {
    match region {
        Some(region) => client_in_region(base, region),
        None => base.clone(),
    }
}

fn region_of(client: &Client) -> Result<String, RdsError> {
    client
        .config()
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| RdsError::InvalidInput("no AWS region configured for the copy".into()))
}

/// Copies the snapshot `selector` picks (the newest automated one by default) of instance or
/// cluster `source` (as `of` says), found through `source_client`, to a manual drill-tagged
/// snapshot in `target`'s region, which survives the source's deletion; then shares this
/// source's drill copies with `target.share_with`. Another region's or account's snapshot is
/// named by ARN (see [`drill_core::snapshots::copy_source`]); GovCloud cross-region copies are
/// refused.
#[allow(clippy::too_many_arguments)]
pub async fn copy_snapshot(
    source_client: &Client,
    of: SnapshotOf,
    target: CopyTarget<'_>,
    settings: &RdsSettings,
    drill: &DrillContext,
    source: &str,
    selector: &SnapshotSelector,
    retention_days: u32,
    now: DateTime<Utc>,
) -> Result<CopyOutcome, RdsError> {
    snapshots::validate_share_accounts(target.share_with).map_err(RdsError::InvalidInput)?;
    let region = region_of(target.client)?;
    let source_region = region_of(source_client)?;
    let snap = snapshot_api::choose(source_client, of, source, selector, now).await?;
    let ask = snapshots::CopyAsk {
        of,
        source_region: &source_region,
        destination_region: &region,
        kms_key_id: target.kms_key_id,
        sharing: !target.share_with.is_empty(),
    };
    let from =
        snapshots::copy_source(&snap, &ask).map_err(|e| RdsError::InvalidInput(e.to_string()))?;
    let copy = temp_identifier(settings, drill, source)?;
    let expires_at = now + Duration::days(i64::from(retention_days.max(1)));
    let client = target.client;
    let tags = tag::snapshot_copy_tags(
        &drill.drill_id,
        source,
        expires_at,
        // Not an automated snapshot's `rds:` identifier: RDS refuses tag values so prefixed.
        snap.arn.as_deref().unwrap_or(&from.identifier),
    );
    let created = snapshot_api::copy(
        client,
        of,
        &from.identifier,
        &copy,
        target.kms_key_id,
        &tags,
    )
    .await?;
    if !created {
        let tags = snapshot_api::find(client, of, &copy)
            .await?
            .into_iter()
            .next()
            .map(|s| s.tags)
            .unwrap_or_default();
        check_reuse(&copy, &drill.drill_id, tag::ROLE_SNAPSHOT_COPY, &tags)?;
    }
    tracing::info!(from = %from.identifier, copy = %copy, region = %region, created, "snapshot copied");
    let (shared, share_pending) = if target.share_with.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        share_copies(client, of, settings, source, target.share_with).await?
    };
    // A copy RDS failed to make, or one stuck for a day, means the backup the copy stands for
    // does not exist: say so loudly rather than report another copy started.
    let problems =
        snapshots::copy_problems(&drill_copies(client, of, settings, source).await?, now);
    if !problems.is_empty() {
        return Err(RdsError::CopyProblem(format!(
            "snapshot copies of {source:?} in {region}: {}",
            problems.join("; ")
        )));
    }
    Ok(CopyOutcome {
        source_snapshot: from.identifier,
        copy,
        region,
        expires_at,
        created,
        shared,
        share_pending,
    })
}

/// The drill's copies of `source` in `client`'s region: manual snapshots passing
/// [`drill_core::snapshots::ownership_guards`].
async fn drill_copies(
    client: &Client,
    of: SnapshotOf,
    settings: &RdsSettings,
    source: &str,
) -> Result<Vec<SnapshotFacts>, RdsError> {
    let policy = CopyPolicy {
        prefix: settings.prefix.clone(),
        source_id: source.to_owned(),
        keep_newest: 1,
    };
    Ok(snapshot_api::list(client, of, source, Some("manual"))
        .await?
        .into_iter()
        .filter(|s| snapshots::ownership_guards(&policy, s).is_empty())
        .collect())
}

/// Shares every available drill copy of `source` in `client`'s region with `accounts` (adding
/// them to the `restore` attribute). Only snapshots passing
/// [`drill_core::snapshots::ownership_guards`] are ever shared: never an automated snapshot,
/// never one somebody else made. Returns (newly shared, still being copied).
pub async fn share_copies(
    client: &Client,
    of: SnapshotOf,
    settings: &RdsSettings,
    source: &str,
    accounts: &[String],
) -> Result<(Vec<String>, Vec<String>), RdsError> {
    snapshots::validate_share_accounts(accounts).map_err(RdsError::InvalidInput)?;
    let (mut shared, mut pending) = (Vec::new(), Vec::new());
    for snap in drill_copies(client, of, settings, source).await? {
        if snap.status != "available" {
            pending.push(snap.id);
            continue;
        }
        let current = snapshot_api::shared_with(client, of, &snap.id).await?;
        let missing: Vec<String> = accounts
            .iter()
            .filter(|a| !current.contains(a))
            .cloned()
            .collect();
        if missing.is_empty() {
            continue;
        }
        snapshot_api::share(client, of, &snap.id, missing.clone()).await?;
        tracing::info!(snapshot = %snap.id, accounts = ?missing, "drill copy shared");
        shared.push(snap.id);
    }
    Ok((shared, pending))
}

/// What snapshot expiry did for one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExpiryOutcome {
    pub expired: Vec<String>,
    pub kept: Vec<String>,
    pub refused: Vec<Refusal>,
}

/// Deletes expired drill-made copies of `source` (see [`drill_core::snapshots::plan_expiry`]):
/// never an automated snapshot, never one without the drill's tags, always keeping the newest
/// `keep_newest` copies.
pub async fn expire_copies(
    client: &Client,
    of: SnapshotOf,
    settings: &RdsSettings,
    source: &str,
    keep_newest: usize,
    now: DateTime<Utc>,
) -> Result<ExpiryOutcome, RdsError> {
    let policy = CopyPolicy {
        prefix: settings.prefix.clone(),
        source_id: source.to_owned(),
        keep_newest,
    };
    let found = snapshot_api::list(client, of, source, Some("manual")).await?;
    let plan = snapshots::plan_expiry(&policy, now, &found);
    for r in &plan.refused {
        tracing::warn!(identifier = %r.identifier, guard = %r.guard, reason = %r.reason, "snapshot expiry refused");
    }
    let mut outcome = ExpiryOutcome {
        kept: plan.kept,
        refused: plan.refused,
        ..Default::default()
    };
    for id in plan.expire {
        // Re-check on fresh facts right before the delete.
        let fresh = snapshot_api::find(client, of, &id).await?;
        let Some(snap) = fresh.first() else { continue };
        let failures = snapshots::copy_guards(&policy, now, snap);
        if !failures.is_empty() {
            outcome
                .refused
                .extend(failures.iter().map(|f| f.to_refusal(&id)));
            continue;
        }
        if snapshot_api::delete(client, of, &id).await? {
            outcome.expired.push(id);
        }
    }
    Ok(outcome)
}
