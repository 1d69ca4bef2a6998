//! Glue between the four functions and the Lambda runtime, in one place.
//!
//! - here: [`HandlerError`] (a failure's kind decides the Lambda `error_type` the ASL matches in
//!   `Retry` and `Catch`), [`parse_event`] and [`to_output`], the one mapping of bad events and
//!   unserialisable outputs;
//! - [`env`]: typed configuration from the environment, and the [`Deps`] built once per cold start;
//! - [`credentials`]: verified TLS, then the connection's secret (the credentials sequence);
//! - [`serve`](mod@serve): logging for CloudWatch and the runtime loop each `main.rs` calls;
//! - `testing` (feature `testing`): sample events and a call recorder for the functions' unit tests.

pub mod credentials;
pub mod env;
pub mod sandbox_servers;
pub mod serve;
#[cfg(feature = "testing")]
pub mod testing;

pub use credentials::{allow_plaintext, database, require_tls, ALLOW_PLAINTEXT_VAR};
pub use env::{env_number, planner_settings, Deps, FromVars, FunctionEnv, Vars};
pub use serve::{init_tracing, serve, serve_until};

use drill_core::{Classified, ErrorKind};
use lambda_runtime::Diagnostic;

/// A failed invocation: its kind decides the Lambda `error_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    pub kind: ErrorKind,
    pub message: String,
}

impl HandlerError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A request that does not match the function's contract.
    pub fn invalid_input(err: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidInput, format!("invalid event: {err}"))
    }

    pub fn error_type(&self) -> &'static str {
        self.kind.error_type()
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.error_type(), self.message)
    }
}

impl std::error::Error for HandlerError {}

impl<E: Classified> From<E> for HandlerError {
    fn from(err: E) -> Self {
        Self::new(err.kind(), err.to_string())
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Self {
        Diagnostic {
            error_type: err.kind.error_type().to_owned(),
            error_message: err.message,
        }
    }
}

/// Parses an event against a function's contract; a mismatch is `Drill.InvalidInput`, never a
/// retry.
pub fn parse_event<T: serde::de::DeserializeOwned>(
    payload: serde_json::Value,
) -> Result<T, HandlerError> {
    serde_json::from_value(payload).map_err(HandlerError::invalid_input)
}

/// A function's output as the JSON the state machine carries on. Our output types always
/// serialise; should one not, that is `Drill.CouldNotRun`, not a retry.
pub fn to_output<T: serde::Serialize + ?Sized>(
    output: &T,
) -> Result<serde_json::Value, HandlerError> {
    serde_json::to_value(output)
        .map_err(|e| HandlerError::new(ErrorKind::CouldNotRun, format!("serialize output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("snapshot is corrupt")]
    struct Corrupt;
    impl Classified for Corrupt {
        fn kind(&self) -> ErrorKind {
            ErrorKind::BackupInvalid
        }
    }

    #[test]
    fn classified_errors_become_named_diagnostics() {
        let d: Diagnostic = HandlerError::from(Corrupt).into();
        assert_eq!(d.error_type, "Drill.BackupInvalid");
        assert_eq!(d.error_message, "snapshot is corrupt");
    }

    #[test]
    fn bad_events_are_invalid_input() {
        let err = parse_event::<drill_core::events::DrillContext>(serde_json::json!({"x": 1}))
            .unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput");
    }

    #[test]
    fn an_unserialisable_output_could_not_run() {
        // A map with non-string keys has no JSON form.
        let map = std::collections::BTreeMap::from([((1, 2), 3)]);
        let err = to_output(&map).unwrap_err();
        assert_eq!(err.error_type(), "Drill.CouldNotRun");
        assert!(err.message.starts_with("serialize output"), "{err}");
        assert_eq!(to_output(&[1, 2]).unwrap(), serde_json::json!([1, 2]));
    }
}
