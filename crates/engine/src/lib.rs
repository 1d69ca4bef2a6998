//! I/O of restore-drill: PostgreSQL connections, backup stores, RDS, secrets, local clusters.
//!
//! Decisions stay in `drill-core`; this crate gathers facts and carries out what the core allowed.

pub mod assertions;
pub mod aws;
pub mod backupset;
pub mod demo_data;
// Only the functions read the deployment configuration (and it answers in their error type).
#[cfg(feature = "lambda")]
pub mod deployment;
pub mod drill;
pub mod dump;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod localpg;
pub mod pg;
pub mod plan_probe;
pub mod rds;
pub mod rds_secret;
pub mod sfn;
pub mod ssh_sig;
pub mod store;
pub mod validate;

pub use drill_core as core;
