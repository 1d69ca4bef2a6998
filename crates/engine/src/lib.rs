//! I/O of restore-drill: PostgreSQL connections, backup stores, RDS, secrets, local clusters.
//!
//! Decisions stay in `drill-core`; this crate gathers facts and carries out what the core allowed.

pub mod aws;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod localpg;
pub mod pg;

pub use drill_core as core;
