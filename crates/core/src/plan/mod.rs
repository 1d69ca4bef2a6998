//! The gate in front of `terraform apply`: what a Terraform plan (`terraform show -json PLANFILE`)
//! would do to data, which of its planned creates need an existence check (missing or stale
//! state), the plan's digest, and human approvals bound to that digest.
//!
//! Pure: the CLI reads the files, the engine asks AWS and runs `ssh-keygen`; this module decides.
//!
//! Where each part lives: [`parse`] reads the plan JSON, [`config`] the user's additions,
//! [`rules`] decides what harms data, [`probes`] which creates AWS is asked about, [`digest`] and
//! [`approval`] bind a person's signature to the plan, [`verdict`] decides pass or block.

pub mod approval;
pub mod config;
pub mod digest;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod parse;
pub mod probes;
pub mod rules;
pub mod verdict;

pub use approval::{Approval, ApprovalError, Refusal};
pub use config::GateConfig;
pub use digest::plan_digest;
pub use parse::{Plan, PlanError, ResourceChange};
pub use probes::{existence_probes, Existing, Identity, Probe, Unprobed};
pub use rules::{classify, Finding, FindingKind};
pub use verdict::{verdict, ApprovalStatus, GateReport};
