//! Pure decisions of restore-drill.
//!
//! Nothing in this crate performs I/O: the Lambdas and the CLI gather facts (from AWS, PostgreSQL,
//! a backup store) and ask this crate what they mean — which name a temp instance gets, whether a
//! delete is allowed, whether a backup set is complete, whether a check passed. That keeps every
//! safety decision unit-testable without a network.

pub mod checks;
pub mod deployment;
pub mod diff;
pub mod error;
pub mod events;
pub mod guards;
pub mod manifest;
pub mod naming;
pub mod operate;
pub mod pg_override;
pub mod pgversion;
pub mod plan;
pub mod point_in_time;
pub mod posture;
pub mod report;
pub mod run_report;
pub mod runconfig;
pub mod sandbox;
pub mod sandbox_diff;
pub mod sandboxdb;
pub mod snapshots;
pub mod temp_readiness;
pub mod tempdb;
pub mod units;
pub mod units_validate;

pub use error::{Classified, ErrorKind, ExitCode};
