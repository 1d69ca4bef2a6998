//! What the CLI prints: errors a person can act on, JSON for machines, logs on stderr.

use drill_core::{Classified, ErrorKind, ExitCode};

/// A failed command: what happened and, where we know it, what to do about it.
#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl<E: Classified> From<E> for CliError {
    fn from(err: E) -> Self {
        CliError::new(err.kind(), err.to_string())
    }
}

pub type CliResult = Result<ExitCode, CliError>;

/// Options every command shares.
#[derive(Debug, Clone)]
pub struct Globals {
    pub json: bool,
    pub verbose: u8,
}

impl Globals {
    pub fn new(json: bool, verbose: u8) -> Self {
        Self { json, verbose }
    }

    pub fn init_logging(&self) {
        let default = match self.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_env("DRILL_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }

    /// Prints a result for machines (`--json`) or people.
    pub fn print_json(&self, value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    }

    pub fn print_error(&self, err: &CliError) {
        if self.json {
            let v = serde_json::json!({
                "error": {
                    "type": err.kind.error_type(),
                    "message": err.message,
                    "hint": err.hint,
                }
            });
            println!("{v}");
        }
        eprintln!("error: {}", err.message);
        if let Some(hint) = &err.hint {
            eprintln!("\n{hint}");
        }
    }
}
