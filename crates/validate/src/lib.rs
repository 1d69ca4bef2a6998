//! The `validate` Lambda. Validates a restored database and writes the drill report.
//!
//! `main.rs` only builds [`Deps`] once and hands every invocation to [`handle`]; tests and the
//! local Lambda host call [`handle`] in process.

use drill_core::events::ValidateRequest;
use drill_engine::lambda::{parse_event, HandlerError};
use drill_core::ErrorKind;
use serde_json::Value;

/// Typed configuration from the function's environment.
#[derive(Debug, Clone)]
pub struct Config {}

impl Config {
    pub fn from_env() -> Result<Self, HandlerError> {
        Ok(Config {})
    }
}

/// Everything a handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub aws: aws_config::SdkConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, HandlerError> {
        Ok(Deps {
            config: Config::from_env()?,
            aws: drill_engine::aws::load_config().await,
        })
    }
}

/// Handles one invocation. The payload is parsed here rather than by the runtime so that a bad
/// event surfaces as `Drill.InvalidInput` (never retried) instead of a generic runtime error.
pub async fn handle(_deps: &Deps, payload: Value) -> Result<Value, HandlerError> {
    let _request: ValidateRequest = parse_event(payload)?;
    Err(HandlerError::new(
        ErrorKind::CouldNotRun,
        "validate: not available in this build",
    ))
}
