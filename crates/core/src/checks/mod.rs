//! Validation checks: their configuration, their expectations and their verdicts.
//!
//! The engine measures facts (catalog, counts, timestamps, amcheck findings, query results); the
//! functions here turn facts plus expectations into a [`CheckResult`]. Nothing here does I/O, so
//! every verdict — above all "never pass when something failed" — is unit-tested.
//!
//! Where things live: [`config`] (the TOML), [`result`] (statuses, results, outcomes),
//! [`fingerprint`] (expectations), and one file per verdict: [`schema`], [`counts`] (row counts,
//! freshness, RPO), [`passes`] (integrity and full read), [`assertion`] (user SQL).

pub mod assertion;
pub mod config;
pub mod counts;
pub mod deadline;
pub mod fingerprint;
pub mod passes;
pub mod result;
pub mod schema;

pub use assertion::*;
pub use config::*;
pub use counts::*;
pub use fingerprint::*;
pub use passes::*;
pub use result::*;
pub use schema::*;

#[cfg(test)]
mod tests;
