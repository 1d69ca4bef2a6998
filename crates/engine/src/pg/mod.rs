//! PostgreSQL connections: one descriptor ([`Database`]: server, credentials, TLS, options),
//! credentials from a secret reference ([`secret`]), TLS verified against the RDS CA bundle or a
//! given one ([`tls`]).
//!
//! Passwords never leave this module in a printable form: [`Credentials`] and [`Database`]
//! redact themselves in `Debug`, and errors name the host and database, never the URL with its
//! password.

mod connect;
mod secret;
mod tls;

use drill_core::{Classified, ErrorKind};

pub use connect::{ConnectOptions, Database};
pub use secret::{parse_secret, resolve_secret, Credentials};
pub use tls::{allow_plaintext, url_tls_mode, ALLOW_PLAINTEXT_VAR, RDS_CA_BUNDLE};

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("invalid PostgreSQL URL: {0} (expected postgres://user:password@host:port/database)")]
    InvalidUrl(String),
    #[error("secret {id}: {reason}")]
    Secret { id: String, reason: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("could not connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("{context}: {reason}")]
    Query {
        context: String,
        reason: String,
        /// SQLSTATE, when the server answered with an error.
        code: Option<String>,
    },
}

impl Classified for PgError {
    fn kind(&self) -> ErrorKind {
        match self {
            PgError::InvalidUrl(_) => ErrorKind::InvalidInput,
            PgError::Secret { .. } | PgError::Tls(_) | PgError::Connect { .. } => {
                ErrorKind::CouldNotRun
            }
            PgError::Query { .. } => ErrorKind::CouldNotRun,
        }
    }
}

impl PgError {
    /// Wraps a query error with what we were doing.
    pub fn query(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> PgError {
        let context = context.into();
        move |source| PgError::Query {
            context,
            reason: error_text(&source),
            code: source.code().map(|c| c.code().to_owned()),
        }
    }
}

/// The full text of a PostgreSQL error: tokio-postgres's `Display` says only "db error" for
/// server errors, which tells a person nothing.
pub fn error_text(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut text = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!(" hint: {hint}"));
        }
        return text;
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Quotes an identifier for SQL (`"a""b"`).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `DROP DATABASE .. WITH (FORCE)` (its sessions ended): the one drop every guarded path ends
/// in, once its own guards have passed. Already gone is not an error.
pub async fn drop_database(client: &tokio_postgres::Client, name: &str) -> Result<(), PgError> {
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .map_err(PgError::query(format!("dropping {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident(r#"We"ird"#), r#""We""ird""#);
    }
}
