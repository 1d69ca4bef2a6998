//! Restoring to a point in time: the per-source restore mode, which moment of the restore window
//! a drill restores to, and which automated backup it restores from.
//!
//! A snapshot restore proves one snapshot; a point-in-time restore also proves the transaction
//! log between snapshots. Like AWS Backup restore testing, the drill can pick a random moment of
//! the window; the pick is a pure function of a seed, and the seed is recorded in the report
//! (`BackupRef::id`), so a failed night can be replayed to the same moment.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a source is restored (deployment configuration, never execution input).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode", deny_unknown_fields)]
pub enum RestoreMode {
    /// The selected snapshot (`RestoreDBInstanceFromDBSnapshot`).
    #[default]
    Snapshot,
    /// `RestoreDBInstanceToPointInTime` from the source's automated backups: the live instance's,
    /// or, once the instance is gone, its retained (or replicated) automated backups.
    PointInTime {
        #[serde(default)]
        moment: Moment,
        /// Seed of a random moment; default: derived from the execution name and the source id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        /// Restore from the automated backups replicated into the drill's region from this
        /// region (cross-region automated backup replication); default: the drill's own region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replicated_from: Option<String>,
    },
}

impl RestoreMode {
    pub fn is_snapshot(&self) -> bool {
        matches!(self, RestoreMode::Snapshot)
    }
}

/// Which moment of the restore window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Moment {
    /// The latest restorable time (`UseLatestRestorableTime`).
    #[default]
    Latest,
    /// A moment drawn from the seed, between the earliest and latest restorable times.
    Random,
}

/// The earliest and latest restorable times of an automated backup (`RestoreWindow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreWindow {
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
}

/// The moment a drill restores to, and how it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChosenMoment {
    /// The moment the data is from: freshness and RPO are measured against it. For
    /// [`Moment::Latest`] the latest restorable time as described just before the restore (RDS
    /// restores to at least that moment, so the RPO reported is never better than the truth).
    pub at: DateTime<Utc>,
    pub moment: Moment,
    /// The seed of a random moment (`None` for the latest).
    pub seed: Option<u64>,
    pub window: RestoreWindow,
}

impl ChosenMoment {
    /// Whether the restore asks RDS for the latest restorable time instead of `at`.
    pub fn use_latest(&self) -> bool {
        self.moment == Moment::Latest
    }

    /// What the report shows as the backup: the source, the moment, how it was chosen and the
    /// window, e.g. `prod-app@2026-11-21T01:02:03Z (random, seed 42, window
    /// 2026-11-14T03:00:00Z..2026-11-21T02:55:00Z)`.
    pub fn describe(&self, source: &str) -> String {
        let how = match self.seed {
            Some(seed) => format!("random, seed {seed}"),
            None => "latest restorable time".to_owned(),
        };
        format!(
            "{source}@{} ({how}, window {}..{})",
            rfc3339(self.at),
            rfc3339(self.window.earliest),
            rfc3339(self.window.latest)
        )
    }
}

impl ChosenMoment {
    /// The [`crate::guards::tag::MOMENT`] tag value: RDS tag values allow only letters, digits,
    /// white space and `_ . : / = + - @`, so not [`Self::describe`]'s parentheses and commas,
    /// e.g. `random seed 42 at 2026-11-21T01:02:03Z window 2026-11-14T03:00:00Z/2026-11-21T02:55:00Z`.
    pub fn tag_value(&self) -> String {
        let how = match self.seed {
            Some(seed) => format!("random seed {seed}"),
            None => "latest".to_owned(),
        };
        // Exact to the nanosecond, so a retry reports the very moment the first call did.
        let exact = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        format!(
            "{how} at {} window {}/{}",
            exact(self.at),
            exact(self.window.earliest),
            exact(self.window.latest)
        )
    }

    /// Reads back [`Self::tag_value`]; `None` for anything else.
    pub fn from_tag_value(value: &str) -> Option<ChosenMoment> {
        let words: Vec<&str> = value.split(' ').collect();
        let (moment, seed, rest) = match words.as_slice() {
            ["latest", rest @ ..] => (Moment::Latest, None, rest),
            ["random", "seed", seed, rest @ ..] => (Moment::Random, Some(seed.parse().ok()?), rest),
            _ => return None,
        };
        let ["at", at, "window", window] = rest else {
            return None;
        };
        let (earliest, latest) = window.split_once('/')?;
        let parse = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        Some(ChosenMoment {
            at: parse(at)?,
            moment,
            seed,
            window: RestoreWindow {
                earliest: parse(earliest)?,
                latest: parse(latest)?,
            },
        })
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Why no moment could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the restore window of {instance:?} is empty ({earliest} .. {latest}): its automated backups hold no restorable moment")]
    Empty {
        instance: String,
        earliest: DateTime<Utc>,
        latest: DateTime<Utc>,
    },
}

/// The seed of a drill that configures none: stable for one execution and source (a retry of the
/// same execution restores to the same moment), different across nights.
pub fn derive_seed(drill_id: &str, source_id: &str) -> u64 {
    let digest = Sha256::digest(format!("{drill_id}\n{source_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// SplitMix64: a fixed, documented mixer, so a seed maps to the same moment in every release
/// (a library PRNG may change its stream between versions).
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Chooses the moment of `window` to restore to. A random moment is a whole second inside the
/// window (rounding inwards keeps it inside), or the latest moment of a window too short to hold
/// a whole second.
pub fn choose(
    source: &str,
    moment: Moment,
    seed: u64,
    window: RestoreWindow,
) -> Result<ChosenMoment, WindowError> {
    // Whole seconds, rounded inwards.
    let earliest_s =
        window.earliest.timestamp() + i64::from(window.earliest.timestamp_subsec_nanos() > 0);
    let latest_s = window.latest.timestamp();
    if window.latest < window.earliest {
        return Err(WindowError::Empty {
            instance: source.to_owned(),
            earliest: window.earliest,
            latest: window.latest,
        });
    }
    let (at, seed) = match moment {
        Moment::Latest => (window.latest, None),
        // A window without a whole second in it (a source minutes old): its latest moment.
        Moment::Random if latest_s < earliest_s => (window.latest, Some(seed)),
        Moment::Random => {
            let span = (latest_s - earliest_s) as u64 + 1;
            let offset = splitmix64(seed) % span;
            let at = DateTime::from_timestamp(earliest_s, 0).unwrap_or(window.earliest)
                + Duration::seconds(offset as i64);
            (at, Some(seed))
        }
    };
    Ok(ChosenMoment {
        at,
        moment,
        seed,
        window,
    })
}

/// What RDS reports about one automated backup (`DescribeDBInstanceAutomatedBackups`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomatedBackupFacts {
    /// `DBInstanceAutomatedBackupsArn`.
    pub arn: String,
    /// The source instance's identifier.
    pub instance: String,
    /// The region of the source instance (for a replicated backup: where it was replicated from).
    pub region: Option<String>,
    /// `active` (the instance exists), `retained` (it was deleted), `replicating`, `creating`...
    pub status: String,
    pub window: Option<RestoreWindow>,
}

/// The automated backup of `instance` to restore from: from `replicated_from` when given (a
/// replicated backup), else one of the drill's own region (`own_region`; unknown regions are
/// accepted). An active one wins over retained ones, then the one that reaches furthest.
pub fn pick_backup<'a>(
    backups: &'a [AutomatedBackupFacts],
    instance: &str,
    own_region: Option<&str>,
    replicated_from: Option<&str>,
) -> Option<&'a AutomatedBackupFacts> {
    let wanted_region = replicated_from.or(own_region);
    backups
        .iter()
        .filter(|b| b.instance == instance && b.window.is_some())
        .filter(|b| matches!(b.status.as_str(), "active" | "retained" | "replicating"))
        .filter(|b| match (wanted_region, b.region.as_deref()) {
            (Some(want), Some(region)) => want == region,
            // A replicated backup must be known to come from the region asked for.
            (Some(_), None) => replicated_from.is_none(),
            (None, _) => true,
        })
        .max_by_key(|b| (b.status == "active", b.window.map(|w| w.latest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window() -> RestoreWindow {
        RestoreWindow {
            earliest: Utc.with_ymd_and_hms(2026, 11, 14, 3, 0, 0).unwrap()
                + Duration::milliseconds(250),
            latest: Utc.with_ymd_and_hms(2026, 11, 21, 2, 55, 0).unwrap(),
        }
    }

    #[test]
    fn the_moment_tag_reads_back_exactly_and_holds_only_characters_rds_tags_allow() {
        let w = window();
        for m in [
            choose("prod", Moment::Random, 42, w).unwrap(),
            choose("prod", Moment::Latest, 0, w).unwrap(),
        ] {
            let value = m.tag_value();
            assert!(value.len() <= 256, "{value}");
            assert!(
                value
                    .chars()
                    .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)),
                "{value}"
            );
            assert_eq!(ChosenMoment::from_tag_value(&value), Some(m), "{value}");
        }
        let random = choose("prod", Moment::Random, 42, w).unwrap().tag_value();
        assert!(random.starts_with("random seed 42 at "), "{random}");
        for bad in [
            "",
            "latest",
            "random seed x at 2026-11-21T01:02:03Z window 2026-11-14T03:00:00Z/2026-11-21T02:55:00Z",
            "latest at 2026-11-21 window a/b",
            "latest at 2026-11-21T01:02:03Z window 2026-11-14T03:00:00Z",
        ] {
            assert_eq!(ChosenMoment::from_tag_value(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_random_moment_is_always_inside_the_window() {
        let w = window();
        let mut distinct = std::collections::BTreeSet::new();
        for seed in 0..5000u64 {
            let m = choose("prod", Moment::Random, seed, w).unwrap();
            assert!(
                m.at >= w.earliest && m.at <= w.latest,
                "seed {seed}: {}",
                m.at
            );
            assert_eq!(m.at.timestamp_subsec_nanos(), 0, "whole seconds");
            distinct.insert(m.at);
        }
        // Spread over the week, not stuck at one end.
        assert!(distinct.len() > 4900, "{}", distinct.len());
        // A one-second window still has its one moment.
        let tight = RestoreWindow {
            earliest: w.latest,
            latest: w.latest,
        };
        assert_eq!(
            choose("prod", Moment::Random, 7, tight).unwrap().at,
            w.latest
        );
        let sub_second = RestoreWindow {
            earliest: w.earliest,
            latest: w.earliest + Duration::milliseconds(500),
        };
        let m = choose("prod", Moment::Random, 7, sub_second).unwrap();
        assert_eq!((m.at, m.seed), (sub_second.latest, Some(7)));
    }

    #[test]
    fn the_same_seed_replays_the_same_moment() {
        let a = choose("prod", Moment::Random, 42, window()).unwrap();
        let b = choose("prod", Moment::Random, 42, window()).unwrap();
        let c = choose("prod", Moment::Random, 43, window()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.at, c.at);
        assert_eq!(a.seed, Some(42));
        // Pinned: a release that changes the mixer would silently change every replay.
        assert_eq!(a.at, Utc.with_ymd_and_hms(2026, 11, 20, 9, 15, 14).unwrap());
        let text = a.describe("prod-app");
        assert!(text.contains("seed 42"), "{text}");
        assert!(text.starts_with("prod-app@2026-11-20T09:15:14Z"), "{text}");
    }

    #[test]
    fn derived_seeds_are_stable_per_execution_and_source() {
        assert_eq!(
            derive_seed("night-1", "prod"),
            derive_seed("night-1", "prod")
        );
        assert_ne!(
            derive_seed("night-1", "prod"),
            derive_seed("night-2", "prod")
        );
        assert_ne!(
            derive_seed("night-1", "prod"),
            derive_seed("night-1", "prod2")
        );
        // No ambiguity between "a"+"bc" and "ab"+"c".
        assert_ne!(derive_seed("a", "bc"), derive_seed("ab", "c"));
    }

    #[test]
    fn latest_uses_the_latest_restorable_time_and_no_seed() {
        let m = choose("prod", Moment::Latest, 42, window()).unwrap();
        assert!(m.use_latest());
        assert_eq!((m.at, m.seed), (window().latest, None));
        assert!(m.describe("p").contains("latest restorable time"));
    }

    #[test]
    fn an_empty_window_is_refused_naming_the_source() {
        let w = RestoreWindow {
            earliest: window().latest,
            latest: window().earliest,
        };
        let err = choose("prod-app", Moment::Random, 1, w).unwrap_err();
        assert!(err.to_string().contains("\"prod-app\""), "{err}");
        assert!(choose("prod-app", Moment::Latest, 1, w).is_err());
    }

    fn backup(
        arn: &str,
        status: &str,
        region: Option<&str>,
        latest_h: u32,
    ) -> AutomatedBackupFacts {
        AutomatedBackupFacts {
            arn: arn.into(),
            instance: "prod".into(),
            region: region.map(str::to_owned),
            status: status.into(),
            window: Some(RestoreWindow {
                earliest: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
                latest: Utc.with_ymd_and_hms(2026, 11, 2, latest_h, 0, 0).unwrap(),
            }),
        }
    }

    #[test]
    fn the_backup_picked_is_active_first_then_the_freshest_retained_of_the_right_region() {
        let mut list = vec![
            backup("old", "retained", Some("us-east-1"), 1),
            backup("new", "retained", Some("us-east-1"), 5),
            backup("replica", "replicating", Some("eu-west-1"), 9),
            backup("deleting", "deleting", Some("us-east-1"), 9),
        ];
        let own = Some("us-east-1");
        assert_eq!(pick_backup(&list, "prod", own, None).unwrap().arn, "new");
        assert_eq!(
            pick_backup(&list, "prod", own, Some("eu-west-1"))
                .unwrap()
                .arn,
            "replica"
        );
        assert!(pick_backup(&list, "prod", own, Some("ap-south-1")).is_none());
        assert!(pick_backup(&list, "prod-billing", own, None).is_none());
        list.push(backup("live", "active", Some("us-east-1"), 2));
        assert_eq!(pick_backup(&list, "prod", own, None).unwrap().arn, "live");
        // Without a window there is nothing to restore to.
        list.iter_mut().for_each(|b| b.window = None);
        assert!(pick_backup(&list, "prod", own, None).is_none());
    }
}
