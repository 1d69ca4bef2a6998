//! Aurora PostgreSQL sources: the one instance a temp cluster gets, its Serverless v2 capacity,
//! and the names of the temp cluster and its instance.
//!
//! `RestoreDBClusterFromSnapshot` and `RestoreDBClusterToPointInTime` restore only the cluster;
//! instances are made with `CreateDBInstance` once the cluster is `available` (RDS API
//! reference). A cluster with `db.serverless` instances needs its `ServerlessV2ScalingConfiguration`
//! first, so the restore call sets it. The cheapest instance that works is Serverless v2 at the
//! smallest minimum the engine version allows (`ServerlessV2FeaturesSupport.MinCapacity` of
//! `DescribeDBEngineVersions`: 0 where the version supports auto-pause, else 0.5).

use serde::{Deserialize, Serialize};

use crate::naming::{self, NamingError};

/// The instance class of Aurora Serverless v2.
pub const SERVERLESS_CLASS: &str = "db.serverless";
/// The engine of every Aurora source this drill restores.
pub const ENGINE: &str = "aurora-postgresql";
/// The smallest minimum capacity of a version without auto-pause (API reference,
/// ServerlessV2ScalingConfiguration): what applies when the engine version says nothing.
pub const MIN_CAPACITY_WITHOUT_AUTO_PAUSE: f64 = 0.5;
/// Default maximum capacity of the temp: enough for validate and export, small in cost.
pub const DEFAULT_MAX_CAPACITY: f64 = 4.0;
/// The largest capacity any Aurora version accepts.
pub const MAX_CAPACITY_LIMIT: f64 = 256.0;

/// Aurora capacity units (half steps). A float, compared bit for bit (configuration only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Acu(pub f64);

impl Eq for Acu {}

/// The one instance of a temp cluster (deployment configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuroraInstance {
    /// Instance class; default `db.serverless` (Serverless v2). A provisioned class (e.g.
    /// `db.t4g.medium`) makes no scaling configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Serverless v2 minimum; default: the smallest the engine version allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<Acu>,
    /// Serverless v2 maximum; default [`DEFAULT_MAX_CAPACITY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<Acu>,
}

/// The Serverless v2 capacity range of a temp cluster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    pub min: f64,
    pub max: f64,
}

fn half_step(v: f64) -> bool {
    (v * 2.0).fract() == 0.0
}

impl AuroraInstance {
    pub fn class(&self) -> &str {
        self.class.as_deref().unwrap_or(SERVERLESS_CLASS)
    }

    pub fn is_serverless(&self) -> bool {
        self.class() == SERVERLESS_CLASS
    }

    /// Checks what can be checked without AWS: half steps, min <= max <= 256, capacity only
    /// for Serverless v2.
    pub fn check(&self) -> Result<(), String> {
        let class = self.class();
        if !class.starts_with("db.") {
            return Err(format!(
                "instance class {class:?} is not an RDS class (db.*)"
            ));
        }
        if !self.is_serverless() && (self.min_capacity.is_some() || self.max_capacity.is_some()) {
            return Err(format!(
                "min_capacity/max_capacity apply to {SERVERLESS_CLASS} only, not {class:?}"
            ));
        }
        for (name, v) in [
            ("min_capacity", self.min_capacity),
            ("max_capacity", self.max_capacity),
        ] {
            if let Some(Acu(v)) = v {
                if !(0.0..=MAX_CAPACITY_LIMIT).contains(&v) || !half_step(v) {
                    return Err(format!(
                        "{name} {v}: Aurora capacity is 0 to {MAX_CAPACITY_LIMIT} ACUs in steps of 0.5"
                    ));
                }
            }
        }
        if let (Some(Acu(min)), Some(Acu(max))) = (self.min_capacity, self.max_capacity) {
            if min > max {
                return Err(format!("min_capacity {min} is above max_capacity {max}"));
            }
        }
        Ok(())
    }

    /// The capacity range of the temp, given the smallest minimum the engine version allows
    /// (`version_min`: `ServerlessV2FeaturesSupport.MinCapacity`, `None` when AWS reports none).
    /// `None` for a provisioned class. A configured minimum below what the version allows is
    /// refused here rather than by AWS after the restore started.
    pub fn capacity(&self, version_min: Option<f64>) -> Result<Option<Capacity>, String> {
        if !self.is_serverless() {
            return Ok(None);
        }
        let floor = version_min.unwrap_or(MIN_CAPACITY_WITHOUT_AUTO_PAUSE);
        let min = self.min_capacity.map_or(floor, |a| a.0);
        if min < floor {
            return Err(format!(
                "min_capacity {min} is below the {floor} ACUs this engine version allows"
            ));
        }
        let max = self
            .max_capacity
            .map_or(DEFAULT_MAX_CAPACITY.max(min), |a| a.0);
        if min > max {
            return Err(format!("min_capacity {min} is above max_capacity {max}"));
        }
        // A range whose maximum is 0 serves no connection.
        Ok(Some(Capacity {
            min,
            max: if max == 0.0 { 0.5 } else { max },
        }))
    }
}

/// The temp cluster's identifier and its instance's (both carry the prefix; the instance's
/// differs from the cluster's so that neither can be mistaken for the other in a refusal).
pub fn temp_names(
    prefix: &str,
    cluster: &str,
    drill_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(String, String), NamingError> {
    let cluster_id = naming::temp_identifier(prefix, cluster, drill_id, at)?;
    let instance_id = naming::temp_member_identifier(prefix, cluster, drill_id, at)?;
    Ok((cluster_id, instance_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn inst(class: Option<&str>, min: Option<f64>, max: Option<f64>) -> AuroraInstance {
        AuroraInstance {
            class: class.map(str::to_owned),
            min_capacity: min.map(Acu),
            max_capacity: max.map(Acu),
        }
    }

    #[test]
    fn the_default_is_serverless_at_the_versions_minimum() {
        let d = AuroraInstance::default();
        assert_eq!(d.class(), "db.serverless");
        d.check().unwrap();
        assert_eq!(
            d.capacity(Some(0.0)).unwrap(),
            Some(Capacity { min: 0.0, max: 4.0 })
        );
        // Nothing reported: the minimum of versions without auto-pause.
        assert_eq!(d.capacity(None).unwrap().unwrap().min, 0.5);
        assert_eq!(d.capacity(Some(0.5)).unwrap().unwrap().min, 0.5);
    }

    #[test]
    fn capacity_outside_what_aurora_allows_is_refused() {
        for bad in [
            inst(None, Some(0.3), None),
            inst(None, Some(-1.0), None),
            inst(None, None, Some(300.0)),
            inst(None, Some(8.0), Some(2.0)),
            inst(Some("db.t4g.medium"), Some(1.0), None),
            inst(Some("serverless"), None, None),
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        let below = inst(None, Some(0.0), None);
        below.check().unwrap();
        let err = below.capacity(Some(0.5)).unwrap_err();
        assert!(err.contains("below the 0.5"), "{err}");
        assert_eq!(
            inst(Some("db.r6g.large"), None, None).capacity(Some(0.0)),
            Ok(None)
        );
        assert_eq!(
            inst(None, Some(8.0), None)
                .capacity(None)
                .unwrap()
                .unwrap()
                .max,
            8.0
        );
    }

    #[test]
    fn the_instance_parses_strictly() {
        let i: AuroraInstance =
            serde_json::from_str(r#"{"class": "db.serverless", "min_capacity": 1}"#).unwrap();
        assert_eq!(i.min_capacity, Some(Acu(1.0)));
        assert!(serde_json::from_str::<AuroraInstance>(r#"{"min_acu": 1}"#).is_err());
    }

    #[test]
    fn cluster_and_instance_names_differ_and_carry_the_prefix() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0).unwrap();
        let long = "a".repeat(80);
        for source in ["prod-aurora", long.as_str()] {
            let (c, i) = temp_names("rdrill-", source, "exec-1", at).unwrap();
            assert_ne!(c, i);
            for id in [&c, &i] {
                assert!(id.starts_with("rdrill-"), "{id}");
                assert!(naming::is_valid_rds_identifier(id), "{id}");
            }
        }
        let (c, i) = temp_names("rdrill-", "prod-aurora", "exec-1", at).unwrap();
        assert_eq!(
            c,
            temp_names("rdrill-", "prod-aurora", "exec-1", at)
                .unwrap()
                .0
        );
        assert!(i.starts_with("rdrill-prod-aurora-w-"), "{i}");
    }
}
