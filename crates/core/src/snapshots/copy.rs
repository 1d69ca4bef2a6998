//! How `CopyDBSnapshot` names the snapshot to copy (identifier or ARN, KMS key needs), which
//! copies are in trouble, and which accounts a copy may be shared with.

use chrono::{DateTime, Utc};

use super::{SnapshotFacts, SnapshotKind, SnapshotOf};

/// The parts of a snapshot ARN, `arn:<partition>:rds:<region>:<account>:snapshot:<name>` (or
/// `:cluster-snapshot:` for an Aurora cluster's). The name of an automated snapshot holds a
/// colon itself (`rds:prod-2026-11-22-03-10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotArn {
    pub of: SnapshotOf,
    pub partition: String,
    pub region: String,
    pub account: String,
    pub name: String,
}

impl SnapshotArn {
    pub fn parse(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        match parts.as_slice() {
            ["arn", partition, "rds", region, account, resource, name]
                if (*resource == "snapshot" || *resource == "cluster-snapshot")
                    && !partition.is_empty()
                    && !region.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && !name.is_empty() =>
            {
                Some(SnapshotArn {
                    of: if *resource == "snapshot" {
                        SnapshotOf::Instance
                    } else {
                        SnapshotOf::Cluster
                    },
                    partition: (*partition).to_owned(),
                    region: (*region).to_owned(),
                    account: (*account).to_owned(),
                    name: (*name).to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// How `CopyDBSnapshot` must name the snapshot to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// `SourceDBSnapshotIdentifier`: the identifier for a copy within the region and account,
    /// else the ARN.
    pub identifier: String,
    /// The region the snapshot is in.
    pub region: String,
    pub cross_region: bool,
}

/// Why a snapshot cannot be copied where it was asked to go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("snapshot {id:?}: RDS did not report its ARN, which a copy to another region or from another account needs")]
    NoArn { id: String },
    #[error("snapshot {id:?}: {arn:?} is not an RDS {resource} ARN")]
    BadArn {
        id: String,
        arn: String,
        resource: &'static str,
    },
    #[error("cluster snapshot {id:?} is not encrypted, and RDS refuses a KmsKeyId when copying an unencrypted cluster snapshot (it cannot encrypt one while copying): remove kms_key_id from this source's snapshot_copy, or encrypt the cluster")]
    KeyForUnencryptedCluster { id: String },
    #[error("snapshot {id:?} is in {source_region} and the copy would go to {destination}: GovCloud copies across regions need a presigned URL, which restore-drill does not build; copy within the region")]
    GovCloud {
        id: String,
        source_region: String,
        destination: String,
    },
    #[error("snapshot {id:?} is encrypted and is copied {how}: name a KMS key of {destination} (--kms-key-id / kms_key_id)")]
    NeedsKmsKey {
        id: String,
        how: &'static str,
        destination: String,
    },
}

/// What a copy is asked to do besides copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyAsk<'a> {
    /// An instance's snapshot or a cluster's.
    pub of: SnapshotOf,
    /// Region of the client that found the snapshot.
    pub source_region: &'a str,
    /// Region the copy is made in.
    pub destination_region: &'a str,
    pub kms_key_id: Option<&'a str>,
    /// The copy will be shared with other accounts.
    pub sharing: bool,
}

/// Decides how to name `snap` in a `CopyDBSnapshot` called in the destination region. A copy to
/// another region, or of a snapshot shared from another account, names the source by ARN and,
/// when the snapshot is encrypted, needs a KMS key of the destination (RDS cannot use the
/// source's key there). An encrypted copy that is to be shared needs a customer managed key too:
/// RDS refuses to share snapshots encrypted with the default `aws/rds` key. A cluster snapshot
/// that is not encrypted takes no key at all (`CopyDBClusterSnapshot` returns an error).
pub fn copy_source(snap: &SnapshotFacts, ask: &CopyAsk<'_>) -> Result<CopySource, CopyError> {
    let (destination_region, kms_key_id) = (ask.destination_region, ask.kms_key_id);
    if ask.of == SnapshotOf::Cluster && !snap.encrypted && kms_key_id.is_some() {
        return Err(CopyError::KeyForUnencryptedCluster {
            id: snap.id.clone(),
        });
    }
    let shared = !matches!(snap.kind, SnapshotKind::Automated | SnapshotKind::Manual);
    let bad_arn = |arn: &str| CopyError::BadArn {
        id: snap.id.clone(),
        arn: arn.to_owned(),
        resource: ask.of.arn_resource(),
    };
    let arn = match (&snap.arn, SnapshotArn::parse(&snap.id)) {
        // A shared snapshot is listed under its ARN.
        (_, Some(parsed)) => parsed,
        (Some(arn), None) => SnapshotArn::parse(arn).ok_or_else(|| bad_arn(arn))?,
        // Without an ARN only a copy within the region can name the snapshot.
        (None, None) if shared || ask.source_region != destination_region => {
            return Err(CopyError::NoArn {
                id: snap.id.clone(),
            })
        }
        (None, None) if snap.encrypted && ask.sharing && kms_key_id.is_none() => {
            return Err(CopyError::NeedsKmsKey {
                id: snap.id.clone(),
                how: "to be shared (aws/rds-encrypted snapshots cannot be shared)",
                destination: destination_region.to_owned(),
            })
        }
        (None, None) => {
            return Ok(CopySource {
                identifier: snap.id.clone(),
                region: destination_region.to_owned(),
                cross_region: false,
            })
        }
    };
    if arn.of != ask.of {
        return Err(bad_arn(snap.arn.as_deref().unwrap_or(&snap.id)));
    }
    let cross_region = arn.region != destination_region;
    if cross_region
        && (arn.region.starts_with("us-gov-") || destination_region.starts_with("us-gov-"))
    {
        return Err(CopyError::GovCloud {
            id: snap.id.clone(),
            source_region: arn.region,
            destination: destination_region.to_owned(),
        });
    }
    if (cross_region || shared || ask.sharing) && snap.encrypted && kms_key_id.is_none() {
        return Err(CopyError::NeedsKmsKey {
            id: snap.id.clone(),
            how: if cross_region {
                "to another region"
            } else if shared {
                "from another account"
            } else {
                "to be shared (aws/rds-encrypted snapshots cannot be shared)"
            },
            destination: destination_region.to_owned(),
        });
    }
    let by_arn = cross_region || shared;
    Ok(CopySource {
        identifier: if by_arn {
            snap.arn.clone().unwrap_or_else(|| snap.id.clone())
        } else {
            snap.id.clone()
        },
        region: arn.region,
        cross_region,
    })
}

/// How long RDS may take to make a copy before the drill calls it stuck.
pub const COPY_STUCK_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// Problems with the drill's copies of a source (already filtered to ours): a copy RDS failed
/// to make, or one still not available a day after it was started. Each names the copy.
pub fn copy_problems(copies: &[SnapshotFacts], now: DateTime<Utc>) -> Vec<String> {
    copies
        .iter()
        .filter_map(|c| match c.status.as_str() {
            "available" => None,
            "creating" | "copying" | "pending" => {
                let started = c.created_at?;
                (now - started > COPY_STUCK_AFTER).then(|| {
                    format!(
                        "copy {:?} is still {} after {} h",
                        c.id,
                        c.status,
                        (now - started).num_hours()
                    )
                })
            }
            other => Some(format!("copy {:?} is {other:?}", c.id)),
        })
        .collect()
}

/// Checks the account ids a drill copy may be shared with: each exactly 12 digits. `all` is
/// refused by name: it would make the snapshot, a full copy of production, public.
pub fn validate_share_accounts(accounts: &[String]) -> Result<(), String> {
    for a in accounts {
        if a.eq_ignore_ascii_case("all") {
            return Err(
                "share_with: \"all\" would make the snapshot public; name 12-digit account ids"
                    .into(),
            );
        }
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "share_with: {a:?} is not a 12-digit AWS account id"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{copy, now, snap};
    use super::*;

    /// A copy asked from us-east-1 into `destination`, not shared.
    fn ask<'a>(destination: &'a str, kms_key_id: Option<&'a str>) -> CopyAsk<'a> {
        CopyAsk {
            of: SnapshotOf::Instance,
            source_region: "us-east-1",
            destination_region: destination,
            kms_key_id,
            sharing: false,
        }
    }

    #[test]
    fn a_copy_to_be_shared_needs_a_customer_key_when_encrypted_and_an_arn_across_regions() {
        let mut auto = snap("rds:prod-b", SnapshotKind::Automated, 6);
        auto.encrypted = true;
        let sharing = CopyAsk {
            sharing: true,
            ..ask("us-east-1", None)
        };
        let err = copy_source(&auto, &sharing).unwrap_err();
        assert!(err.to_string().contains("cannot be shared"), "{err}");
        let with_key = CopyAsk {
            kms_key_id: Some("arn:aws:kms:us-east-1:1:key/k"),
            ..sharing
        };
        assert!(copy_source(&auto, &with_key).is_ok());
        auto.encrypted = false;
        assert!(copy_source(&auto, &sharing).is_ok());
        // No ARN reported: only a copy within the region can name it.
        auto.arn = None;
        assert!(copy_source(&auto, &ask("us-east-1", None)).is_ok());
        assert!(matches!(
            copy_source(&auto, &ask("eu-west-1", None)),
            Err(CopyError::NoArn { .. })
        ));
    }

    #[test]
    fn failed_and_stuck_copies_are_problems_fresh_ones_are_not() {
        let mut ok = copy("rdrill-ok", 30, false);
        ok.status = "available".into();
        let mut fresh = copy("rdrill-fresh", 2, false);
        fresh.status = "creating".into();
        let mut stuck = copy("rdrill-stuck", 30, false);
        stuck.status = "creating".into();
        let mut failed = copy("rdrill-failed", 1, false);
        failed.status = "failed".into();
        let problems = copy_problems(&[ok, fresh, stuck, failed], now());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("rdrill-stuck") && problems[0].contains("30 h"));
        assert!(problems[1].contains("rdrill-failed") && problems[1].contains("failed"));
    }

    #[test]
    fn snapshot_arns_keep_the_colon_of_automated_names() {
        let a = SnapshotArn::parse(
            "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:prod-2026-11-22-03-10",
        )
        .unwrap();
        assert_eq!(a.region, "eu-west-1");
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.name, "rds:prod-2026-11-22-03-10");
        for bad in [
            "rds:prod-2026",
            "arn:aws:rds:eu-west-1:123456789012:db:prod",
            "arn:aws:rds:eu-west-1:1234:snapshot:x",
            "arn:aws:rds::123456789012:snapshot:x",
            "arn:aws:rds:eu-west-1:123456789012:snapshot:",
        ] {
            assert_eq!(SnapshotArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_region_copies_use_the_identifier_others_the_arn() {
        let auto = snap("rds:prod-b", SnapshotKind::Automated, 6);
        let same = copy_source(&auto, &ask("us-east-1", None)).unwrap();
        assert_eq!(same.identifier, "rds:prod-b");
        assert!(!same.cross_region);
        let other = copy_source(&auto, &ask("eu-west-1", None)).unwrap();
        assert_eq!(
            other.identifier,
            "arn:aws:rds:us-east-1:123456789012:snapshot:rds:prod-b"
        );
        assert_eq!(other.region, "us-east-1");
        assert!(other.cross_region);
        // Shared from another account: listed under its ARN, copied by ARN even in-region.
        let mut shared = snap("x", SnapshotKind::Other("shared".into()), 1);
        shared.id = "arn:aws:rds:us-east-1:210987654321:snapshot:rdrill-prod-1".into();
        shared.arn = Some(shared.id.clone());
        let s = copy_source(&shared, &ask("us-east-1", None)).unwrap();
        assert_eq!(s.identifier, shared.id);
        assert!(!s.cross_region);
    }

    #[test]
    fn encrypted_copies_across_regions_or_accounts_need_a_key() {
        let mut auto = snap("rds:prod-b", SnapshotKind::Automated, 6);
        auto.encrypted = true;
        // In-region: RDS keeps the source's key.
        assert!(copy_source(&auto, &ask("us-east-1", None)).is_ok());
        let err = copy_source(&auto, &ask("eu-west-1", None)).unwrap_err();
        assert!(matches!(err, CopyError::NeedsKmsKey { .. }));
        assert!(err.to_string().contains("eu-west-1") && err.to_string().contains("rds:prod-b"));
        assert!(copy_source(
            &auto,
            &ask("eu-west-1", Some("arn:aws:kms:eu-west-1:1:key/k"))
        )
        .is_ok());
        let mut shared = snap(
            "arn:aws:rds:us-east-1:210987654321:snapshot:s",
            SnapshotKind::Other("shared".into()),
            1,
        );
        shared.encrypted = true;
        let err = copy_source(&shared, &ask("us-east-1", None)).unwrap_err();
        assert!(err.to_string().contains("from another account"), "{err}");
    }

    #[test]
    fn govcloud_and_missing_arns_are_refused() {
        let mut gov = snap("rds:prod-b", SnapshotKind::Automated, 6);
        gov.arn = Some("arn:aws-us-gov:rds:us-gov-west-1:123456789012:snapshot:rds:prod-b".into());
        assert!(matches!(
            copy_source(
                &gov,
                &CopyAsk {
                    source_region: "us-gov-west-1",
                    ..ask("us-gov-east-1", None)
                }
            ),
            Err(CopyError::GovCloud { .. })
        ));
        assert!(copy_source(
            &gov,
            &CopyAsk {
                source_region: "us-gov-west-1",
                ..ask("us-gov-west-1", None)
            }
        )
        .is_ok());
        let mut no_arn = snap("shared-x", SnapshotKind::Other("shared".into()), 1);
        no_arn.arn = None;
        assert!(matches!(
            copy_source(&no_arn, &ask("us-east-1", None)),
            Err(CopyError::NoArn { .. })
        ));
        let mut bad = snap("rds:prod-b", SnapshotKind::Automated, 6);
        bad.arn = Some("not-an-arn".into());
        assert!(matches!(
            copy_source(&bad, &ask("us-east-1", None)),
            Err(CopyError::BadArn { .. })
        ));
    }

    /// A cluster snapshot of `prod` in us-east-1, as `cluster_snapshot_facts` reports it.
    fn cluster_snap(encrypted: bool) -> SnapshotFacts {
        let mut s = snap("rds:prod-2026-11-30-03-00", SnapshotKind::Automated, 6);
        s.arn = Some(
            "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:rds:prod-2026-11-30-03-00".into(),
        );
        s.encrypted = encrypted;
        s
    }

    fn cluster_ask<'a>(destination: &'a str, kms_key_id: Option<&'a str>) -> CopyAsk<'a> {
        CopyAsk {
            of: SnapshotOf::Cluster,
            ..ask(destination, kms_key_id)
        }
    }

    #[test]
    fn cluster_snapshot_arns_parse_and_name_cross_region_copies() {
        let a = SnapshotArn::parse(
            "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:prod-2026-11-22-03-10",
        )
        .unwrap();
        assert_eq!(a.of, SnapshotOf::Cluster);
        assert_eq!(a.name, "rds:prod-2026-11-22-03-10");
        assert_eq!(
            SnapshotArn::parse("arn:aws:rds:eu-west-1:123456789012:snapshot:x")
                .unwrap()
                .of,
            SnapshotOf::Instance
        );
        assert_eq!(
            SnapshotArn::parse("arn:aws:rds:eu-west-1:123456789012:cluster:prod"),
            None
        );
        let auto = cluster_snap(false);
        let same = copy_source(&auto, &cluster_ask("us-east-1", None)).unwrap();
        assert_eq!(same.identifier, "rds:prod-2026-11-30-03-00");
        let other = copy_source(&auto, &cluster_ask("eu-west-1", None)).unwrap();
        assert_eq!(other.identifier, auto.arn.clone().unwrap());
        assert!(other.cross_region);
        // An instance snapshot's ARN is no cluster snapshot, nor the other way round.
        assert!(matches!(
            copy_source(
                &snap("rds:prod-b", SnapshotKind::Automated, 6),
                &cluster_ask("eu-west-1", None)
            ),
            Err(CopyError::BadArn {
                resource: "cluster-snapshot",
                ..
            })
        ));
        assert!(matches!(
            copy_source(&auto, &ask("eu-west-1", None)),
            Err(CopyError::BadArn {
                resource: "snapshot",
                ..
            })
        ));
    }

    #[test]
    fn a_cluster_snapshot_takes_a_key_only_when_encrypted() {
        let key = Some("arn:aws:kms:eu-west-1:1:key/k");
        // Unlike CopyDBSnapshot, which encrypts the copy, CopyDBClusterSnapshot refuses a key
        // for an unencrypted snapshot: refused here, before any call, naming the fix.
        let err = copy_source(&cluster_snap(false), &cluster_ask("eu-west-1", key)).unwrap_err();
        assert!(matches!(err, CopyError::KeyForUnencryptedCluster { .. }));
        assert!(err.to_string().contains("remove kms_key_id"), "{err}");
        let mut unencrypted_instance = snap("rds:prod-b", SnapshotKind::Automated, 6);
        unencrypted_instance.encrypted = false;
        assert!(copy_source(&unencrypted_instance, &ask("eu-west-1", key)).is_ok());
        // Encrypted: a key of the destination is needed across regions, and to share.
        assert!(copy_source(&cluster_snap(true), &cluster_ask("eu-west-1", key)).is_ok());
        assert!(matches!(
            copy_source(&cluster_snap(true), &cluster_ask("eu-west-1", None)),
            Err(CopyError::NeedsKmsKey { .. })
        ));
        let sharing = CopyAsk {
            sharing: true,
            ..cluster_ask("us-east-1", None)
        };
        assert!(matches!(
            copy_source(&cluster_snap(true), &sharing),
            Err(CopyError::NeedsKmsKey { .. })
        ));
    }

    #[test]
    fn sharing_never_goes_public_and_needs_account_ids() {
        assert!(validate_share_accounts(&["210987654321".into()]).is_ok());
        assert!(validate_share_accounts(&[]).is_ok());
        let err = validate_share_accounts(&["ALL".into()]).unwrap_err();
        assert!(err.contains("public"), "{err}");
        for bad in ["12345", "21098765432a", " 210987654321"] {
            let err = validate_share_accounts(&[bad.into()]).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }
}
