//! Glue between our errors and the Lambda runtime.
//!
//! A handler returns `Result<T, HandlerError>`; the runtime reports `error_type` from
//! [`ErrorKind::error_type`], which the ASL matches in `Retry` and `Catch`.

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

/// Environment variable that lets a function connect to PostgreSQL without TLS (local stacks only).
pub const ALLOW_PLAINTEXT_VAR: &str = "DRILL_ALLOW_PLAINTEXT";

/// Whether `DRILL_ALLOW_PLAINTEXT=true` is set.
pub fn allow_plaintext(var: &dyn Fn(&str) -> Option<String>) -> bool {
    var(ALLOW_PLAINTEXT_VAR).as_deref() == Some("true")
}

/// A function never sends a credential over plaintext in AWS: anyone who may start an execution
/// could otherwise name any host with `tls: disable` and receive the restore server's password.
/// With verify-full, a host without a certificate from the CA bundle never sees the password.
pub fn require_tls(
    spec: &drill_core::events::ConnectionSpec,
    allow_plaintext: bool,
) -> Result<(), HandlerError> {
    if spec.tls == drill_core::events::TlsMode::Disable && !allow_plaintext {
        return Err(HandlerError::new(
            ErrorKind::InvalidInput,
            format!(
                "connection to {}:{}/{} asks for tls = \"disable\"; the functions only connect with \
                 verified TLS (set {ALLOW_PLAINTEXT_VAR}=true only on a local test stack)",
                spec.host, spec.port, spec.database
            ),
        ));
    }
    Ok(())
}

/// JSON logs for CloudWatch, level from `RUST_LOG` (default `info`), no ANSI colours.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time() // CloudWatch stamps every line already
        .with_current_span(false)
        .try_init();
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
    fn plaintext_is_refused_unless_allowed() {
        let spec: drill_core::events::ConnectionSpec = serde_json::from_value(serde_json::json!({
            "host": "evil.example", "port": 5432, "database": "d",
            "secret": {"env": {"var": "X"}}, "tls": "disable"
        }))
        .unwrap();
        let err = require_tls(&spec, false).unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput");
        assert!(err.message.contains("evil.example"), "{err}");
        assert!(require_tls(&spec, true).is_ok());
        assert!(!allow_plaintext(&|_| Some("yes".into())));
        assert!(allow_plaintext(&|_| Some("true".into())));
    }

    #[test]
    fn bad_events_are_invalid_input() {
        let err = parse_event::<drill_core::events::DrillContext>(serde_json::json!({"x": 1}))
            .unwrap_err();
        assert_eq!(err.error_type(), "Drill.InvalidInput");
    }
}
