//! Configuration of the RDS side of the drill (prefix, instance classes, network, lifetime,
//! protected identifiers) and the guard policy it implies.

use drill_core::guards::{tag, GuardPolicy, InstanceFacts};
use drill_core::naming;

use super::RdsError;

/// Configuration of the RDS side of the drill, from the environment of a Lambda or the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsSettings {
    /// `DRILL_PREFIX` (default `rdrill-`): every temp identifier starts with it.
    pub prefix: String,
    /// `DRILL_INSTANCE_CLASS` (default `db.t4g.micro`): comma-separated instance classes of the
    /// temp, tried in order while RDS answers `InsufficientDBInstanceCapacity`.
    pub instance_classes: Vec<String>,
    /// `DRILL_SECRET_KMS_KEY_ID`: the KMS key (the drill's own) that encrypts the RDS-managed
    /// master secret turned on for each temp; unset: `aws/secretsmanager`.
    pub secret_kms_key_id: Option<String>,
    /// `DRILL_SUBNET_GROUP`: the drill's own DB subnet group (required to restore).
    pub subnet_group: Option<String>,
    /// `DRILL_SECURITY_GROUPS`: comma-separated VPC security group ids (required to restore).
    pub security_groups: Vec<String>,
    /// `DRILL_TEMP_TTL_HOURS` (default 12): the temp's expires-at tag, after which the janitor
    /// may remove it.
    pub temp_ttl_hours: u32,
    /// `DRILL_SOURCES`: comma-separated source instance identifiers, never deletable.
    pub sources: Vec<String>,
    /// `DRILL_PROTECTED`: comma-separated identifiers that must never be touched.
    pub protected: Vec<String>,
}

impl Default for RdsSettings {
    fn default() -> Self {
        Self {
            prefix: naming::DEFAULT_PREFIX.to_owned(),
            instance_classes: vec!["db.t4g.micro".to_owned()],
            secret_kms_key_id: None,
            subnet_group: None,
            security_groups: Vec::new(),
            temp_ttl_hours: 12,
            sources: Vec::new(),
            protected: Vec::new(),
        }
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl RdsSettings {
    /// Reads the settings through `var` (the process environment in production). Unset values
    /// take their defaults, so a function that never restores starts without them; a value that
    /// is set but invalid is an error.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, RdsError> {
        let mut s = RdsSettings::default();
        if let Some(p) = var("DRILL_PREFIX") {
            naming::validate_prefix(&p).map_err(|e| RdsError::InvalidInput(e.to_string()))?;
            s.prefix = p;
        }
        if let Some(c) = var("DRILL_INSTANCE_CLASS") {
            s.instance_classes = list(&c);
            if s.instance_classes.is_empty() {
                return Err(RdsError::InvalidInput(format!(
                    "DRILL_INSTANCE_CLASS={c:?}: expected comma-separated instance classes"
                )));
            }
        }
        s.secret_kms_key_id = var("DRILL_SECRET_KMS_KEY_ID").filter(|v| !v.is_empty());
        s.subnet_group = var("DRILL_SUBNET_GROUP").filter(|v| !v.is_empty());
        s.security_groups = var("DRILL_SECURITY_GROUPS")
            .map(|v| list(&v))
            .unwrap_or_default();
        if let Some(h) = var("DRILL_TEMP_TTL_HOURS") {
            s.temp_ttl_hours =
                h.parse()
                    .ok()
                    .filter(|h| (1..=48).contains(h))
                    .ok_or_else(|| {
                        RdsError::InvalidInput(format!(
                            "DRILL_TEMP_TTL_HOURS={h:?}: expected 1 to 48 hours"
                        ))
                    })?;
        }
        s.sources = var("DRILL_SOURCES").map(|v| list(&v)).unwrap_or_default();
        s.protected = var("DRILL_PROTECTED").map(|v| list(&v)).unwrap_or_default();
        Ok(s)
    }

    pub fn from_env() -> Result<Self, RdsError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// The guard policy for deleting the instance `facts` describes. The drill's own source
    /// (the Map entry id) and the source instance named in the instance's own `drill:source`
    /// tag are protected even when not configured: the entry id need not be the instance
    /// identifier, and a restore never deletes what it was restored from.
    pub fn guard_policy_for(
        &self,
        drill_source: Option<&str>,
        facts: &InstanceFacts,
    ) -> GuardPolicy {
        let mut policy = self.guard_policy(drill_source);
        policy.sources.extend(facts.tags.get(tag::SOURCE).cloned());
        policy
    }

    /// The guard policy; the drill's own source is protected even when not configured.
    pub fn guard_policy(&self, drill_source: Option<&str>) -> GuardPolicy {
        let mut sources = self.sources.clone();
        sources.extend(drill_source.map(str::to_owned));
        GuardPolicy {
            prefix: self.prefix.clone(),
            sources,
            protected: self.protected.clone(),
        }
    }
}

/// The settings every restored instance of ours gets (drill temp or sandbox), whichever restore
/// call makes it: they are what keeps it isolated (private, the drill's network) and removable
/// (no deletion protection, no backups of its own, no snapshot inheriting its tags). One home,
/// since the restore builders of the SDK share no trait. Without `backup_retention_period(0)` RDS
/// first takes a baseline backup and sits in `backing-up` for hours. No ManageMasterUserPassword:
/// on a restore it applies to RDS for Oracle only; the secret is turned on once the instance is
/// available (crate::rds_secret).
macro_rules! isolated_instance {
    ($call:expr, class: $class:expr, subnet_group: $subnet:expr, security_groups: $sgs:expr,
     parameter_group: $pg:expr, tags: $tags:expr $(,)?) => {
        $call
            .db_instance_class($class)
            .db_subnet_group_name($subnet)
            .set_vpc_security_group_ids(Some($sgs))
            .set_db_parameter_group_name($pg)
            .backup_retention_period(0)
            .deletion_protection(false)
            .publicly_accessible(false)
            .multi_az(false)
            .copy_tags_to_snapshot(false)
            .auto_minor_version_upgrade(false)
            .set_tags(Some($tags))
    };
}
pub(crate) use isolated_instance;

#[cfg(test)]
mod tests {
    use super::*;
    use drill_core::{Classified, ErrorKind};

    #[test]
    fn settings_defaults_and_validation() {
        let s = RdsSettings::from_vars(|_| None).unwrap();
        assert_eq!(s.prefix, "rdrill-");
        assert_eq!(s.instance_classes, ["db.t4g.micro"]);
        assert_eq!(s.secret_kms_key_id, None);
        let s = RdsSettings::from_vars(|k| {
            (k == "DRILL_SECRET_KMS_KEY_ID").then(|| "arn:aws:kms:us-east-1:1:key/k".to_owned())
        })
        .unwrap();
        assert_eq!(
            s.secret_kms_key_id.as_deref(),
            Some("arn:aws:kms:us-east-1:1:key/k")
        );
        assert!(s.subnet_group.is_none() && s.security_groups.is_empty());
        let vars = |k: &str| match k {
            "DRILL_SECURITY_GROUPS" => Some(" sg-1, ,sg-2 ".to_owned()),
            "DRILL_SOURCES" => Some("prod-a,prod-b".to_owned()),
            _ => None,
        };
        let s = RdsSettings::from_vars(vars).unwrap();
        assert_eq!(s.security_groups, ["sg-1", "sg-2"]);
        assert_eq!(
            s.guard_policy(Some("prod-c")).sources,
            ["prod-a", "prod-b", "prod-c"]
        );
        for (k, v) in [
            ("DRILL_PREFIX", ""),
            ("DRILL_PREFIX", "Prod"),
            ("DRILL_TEMP_TTL_HOURS", "0"),
            ("DRILL_TEMP_TTL_HOURS", "x"),
        ] {
            let err = RdsSettings::from_vars(|key| (key == k).then(|| v.to_owned())).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{k}={v}");
        }
    }
}
