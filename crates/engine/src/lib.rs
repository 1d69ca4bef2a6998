//! I/O of restore-drill: PostgreSQL connections, backup stores, RDS, secrets, local clusters.
//!
//! Decisions stay in `drill-core`; this crate gathers facts and carries out what the core allowed.

pub mod assertions;
pub mod aws;
pub mod backupset;
pub mod diff;
// The deployment configuration is read by the functions only (it answers in their errors).
#[cfg(feature = "lambda")]
pub mod deployment;
pub mod drill;
pub mod dump;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "localpg")]
pub mod localpg;
pub mod pg;
pub mod pgbin;
pub mod plan_probe;
pub mod rds;
pub mod rds_secret;
pub mod sandbox;
pub mod sfn;
pub mod sfn_follow;
pub mod ssh_sig;
pub mod store;
pub mod validate;

pub use drill_core as core;
