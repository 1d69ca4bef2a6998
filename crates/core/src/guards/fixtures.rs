//! Test fixtures of the guards: a policy, an execution and a temp every guard accepts.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{tag, Caller, Guard, GuardFailure, GuardPolicy, InstanceFacts};

pub fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, 0, 0).unwrap()
}

pub fn policy() -> GuardPolicy {
    GuardPolicy {
        prefix: "rdrill-".into(),
        sources: vec!["prod-db".into()],
        protected: vec!["rdrill-keep-me".into()],
    }
}

pub fn exec() -> Caller {
    Caller::Execution {
        drill_id: "exec-1".into(),
        started_at: t(3),
    }
}

/// A temp instance every guard accepts for `exec()`: expires 2026-11-23T03:00Z, created 04:00.
pub fn temp() -> InstanceFacts {
    InstanceFacts {
        identifier: "rdrill-prod-db-202611220300-abcd1234".into(),
        tags: tag::temp_tags(
            "exec-1",
            "prod-db",
            t(3) + Duration::hours(24),
            "rds:prod-db-2026-11-22-00-00",
        ),
        deletion_protection: false,
        created_at: Some(t(4)),
    }
}

pub fn failed(f: &[GuardFailure]) -> Vec<Guard> {
    f.iter().map(|f| f.guard).collect()
}
