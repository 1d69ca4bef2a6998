//! PostgreSQL connections: credentials from a secret reference, TLS verified against the RDS CA
//! bundle (or a given one), connect and statement timeouts.
//!
//! Passwords never leave this module in a printable form: [`Credentials`] redacts itself in
//! `Debug`, and errors name the host and database, never the URL with its password.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use drill_core::events::{ConnectionSpec, SecretRef, TlsMode};
use drill_core::{Classified, ErrorKind};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

/// The Amazon RDS CA bundle shipped in the repository (see certs/README.md).
pub const RDS_CA_BUNDLE: &str = include_str!("../../../certs/rds-ca-bundle.pem");

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

/// A user name and password; `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Parses a secret's text: the RDS-managed JSON (`{"username": .., "password": ..}`) or a
/// `postgres://` URL (its user and password are used).
pub fn parse_secret(id: &str, text: &str) -> Result<Credentials, PgError> {
    let err = |reason: &str| PgError::Secret {
        id: id.to_owned(),
        reason: reason.to_owned(),
    };
    let text = text.trim();
    if text.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| err("is not valid JSON"))?;
        let user = v["username"]
            .as_str()
            .ok_or_else(|| err("has no string field `username`"))?;
        let pass = v["password"]
            .as_str()
            .ok_or_else(|| err("has no string field `password`"))?;
        Ok(Credentials::new(user, pass))
    } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let cfg = Config::from_str(&strip_sslmode(text).0)
            .map_err(|_| err("is not a valid postgres:// URL"))?;
        let user = cfg.get_user().ok_or_else(|| err("URL has no user"))?;
        let pass = cfg
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        Ok(Credentials::new(user, pass))
    } else {
        Err(err(
            "must be JSON with username/password or a postgres:// URL",
        ))
    }
}

/// Resolves a [`SecretRef`]. Secrets Manager needs a client; `Env` reads this process's
/// environment.
pub async fn resolve_secret(
    secret: &SecretRef,
    secrets: Option<&aws_sdk_secretsmanager::Client>,
) -> Result<Credentials, PgError> {
    match secret {
        SecretRef::Env { var } => {
            let text = std::env::var(var).map_err(|_| PgError::Secret {
                id: format!("env:{var}"),
                reason: "environment variable is not set".into(),
            })?;
            parse_secret(&format!("env:{var}"), &text)
        }
        SecretRef::SecretsManager { secret_id } => {
            let client = secrets.ok_or_else(|| PgError::Secret {
                id: secret_id.clone(),
                reason: "no Secrets Manager client configured".into(),
            })?;
            let out = client
                .get_secret_value()
                .secret_id(secret_id)
                .send()
                .await
                .map_err(|e| PgError::Secret {
                    id: secret_id.clone(),
                    reason: format!(
                        "GetSecretValue failed: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    ),
                })?;
            let text = out.secret_string().ok_or_else(|| PgError::Secret {
                id: secret_id.clone(),
                reason: "has no SecretString".into(),
            })?;
            parse_secret(secret_id, text)
        }
    }
}

/// Connection settings beyond host and credentials.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` for the session; `None` leaves the server default.
    pub statement_timeout: Option<Duration>,
    /// CA bundle for `verify-full`; default `DRILL_CA_BUNDLE` or the shipped RDS bundle.
    pub ca_bundle: Option<PathBuf>,
    pub application_name: String,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            statement_timeout: None,
            ca_bundle: std::env::var_os("DRILL_CA_BUNDLE").map(PathBuf::from),
            application_name: "restore-drill".into(),
        }
    }
}

fn root_store(ca_bundle: Option<&Path>) -> Result<rustls::RootCertStore, PgError> {
    let pem = match ca_bundle {
        Some(path) => std::fs::read(path)
            .map_err(|e| PgError::Tls(format!("reading CA bundle {}: {e}", path.display())))?,
        None => RDS_CA_BUNDLE.as_bytes().to_vec(),
    };
    let mut store = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| PgError::Tls(format!("parsing CA bundle: {e}")))?;
        store
            .add(cert)
            .map_err(|e| PgError::Tls(format!("CA bundle certificate: {e}")))?;
    }
    if store.is_empty() {
        return Err(PgError::Tls("CA bundle holds no certificates".into()));
    }
    Ok(store)
}

fn tls_connector(
    ca_bundle: Option<&Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(e.to_string()))?
        .with_root_certificates(root_store(ca_bundle)?)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Removes `sslmode=...` (tokio-postgres knows only disable/prefer/require) and returns it.
fn strip_sslmode(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut mode = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("sslmode=") {
            Some(m) => {
                mode = Some(m.to_owned());
                false
            }
            None => true,
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, mode)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "::1" || host.starts_with("127.") || host.starts_with('/')
}

/// TLS mode of a URL: its `sslmode` (`disable` → plain; `require`, `verify-ca`, `verify-full` →
/// verified TLS: we never accept an unverified certificate), else plain for loopback hosts and
/// verified TLS for every other host.
pub fn url_tls_mode(url: &str) -> Result<(Config, TlsMode), PgError> {
    let (clean, mode) = strip_sslmode(url);
    let config = Config::from_str(&clean).map_err(|e| PgError::InvalidUrl(e.to_string()))?;
    let tls = match mode.as_deref() {
        Some("disable") => TlsMode::Disable,
        Some("require" | "verify-ca" | "verify-full") => TlsMode::VerifyFull,
        Some(other) => {
            return Err(PgError::InvalidUrl(format!(
                "sslmode={other} is not supported (use disable or verify-full)"
            )))
        }
        None => {
            let local = config.get_hosts().iter().all(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => is_loopback(h),
                tokio_postgres::config::Host::Unix(_) => true,
            });
            if local {
                TlsMode::Disable
            } else {
                TlsMode::VerifyFull
            }
        }
    };
    Ok((config, tls))
}

/// A printable target (host:port/database) without credentials.
pub fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config.get_dbname().unwrap_or("(default database)")
    )
}

/// Connects with a prepared config.
pub async fn connect_config(
    mut config: Config,
    tls: TlsMode,
    options: &ConnectOptions,
) -> Result<Client, PgError> {
    config
        .connect_timeout(options.connect_timeout)
        .application_name(&options.application_name);
    if let Some(t) = options.statement_timeout {
        config.options(format!("-c statement_timeout={}", t.as_millis()));
    }
    let target = describe(&config);
    let connect_err = |e: tokio_postgres::Error| PgError::Connect {
        target: target.clone(),
        reason: error_text(&e),
    };
    let client = match tls {
        TlsMode::Disable => {
            config.ssl_mode(SslMode::Disable);
            let (client, conn) = config.connect(NoTls).await.map_err(connect_err)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::warn!(error = %e, "PostgreSQL connection ended");
                }
            });
            client
        }
        TlsMode::VerifyFull => {
            config.ssl_mode(SslMode::Require);
            let connector = tls_connector(options.ca_bundle.as_deref())?;
            let (client, conn) = config.connect(connector).await.map_err(connect_err)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::warn!(error = %e, "PostgreSQL connection ended");
                }
            });
            client
        }
    };
    Ok(client)
}

/// Connects to a `postgres://` URL (see [`url_tls_mode`] for TLS).
pub async fn connect_url(url: &str, options: &ConnectOptions) -> Result<Client, PgError> {
    let (config, tls) = url_tls_mode(url)?;
    connect_config(config, tls, options).await
}

/// Connects to a [`ConnectionSpec`] with resolved credentials.
pub async fn connect(
    spec: &ConnectionSpec,
    credentials: &Credentials,
    options: &ConnectOptions,
) -> Result<Client, PgError> {
    let mut config = Config::new();
    config
        .host(&spec.host)
        .port(spec.port)
        .dbname(&spec.database)
        .user(&credentials.username)
        .password(credentials.password());
    connect_config(config, spec.tls, options).await
}

/// Quotes an identifier for SQL (`"a""b"`).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = Credentials::new("admin", "hunter2");
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("admin"));
    }

    #[test]
    fn secrets_parse_from_rds_json_and_urls() {
        let c = parse_secret(
            "x",
            r#"{"username":"u","password":"p","engine":"postgres"}"#,
        )
        .unwrap();
        assert_eq!((c.username.as_str(), c.password()), ("u", "p"));
        let c = parse_secret("x", "postgres://v:w@h:5/db?sslmode=verify-full").unwrap();
        assert_eq!((c.username.as_str(), c.password()), ("v", "w"));
        let err = parse_secret("arn:x", r#"{"user":"u"}"#).unwrap_err();
        assert!(err.to_string().contains("arn:x"), "{err}");
        assert!(err.to_string().contains("username"), "{err}");
    }

    #[test]
    fn sslmode_defaults_by_host_and_is_never_unverified() {
        let mode = |u: &str| url_tls_mode(u).unwrap().1;
        assert_eq!(mode("postgres://u@127.0.0.1:5/d"), TlsMode::Disable);
        assert_eq!(mode("postgres://u@db.example.com:5/d"), TlsMode::VerifyFull);
        assert_eq!(
            mode("postgres://u@db.example.com/d?sslmode=require"),
            TlsMode::VerifyFull
        );
        assert_eq!(
            mode("postgres://u@localhost/d?sslmode=verify-full"),
            TlsMode::VerifyFull
        );
        assert_eq!(mode("postgres://u@db/d?sslmode=disable"), TlsMode::Disable);
        assert!(url_tls_mode("postgres://u@db/d?sslmode=allow").is_err());
    }

    #[test]
    fn shipped_rds_bundle_loads() {
        let store = root_store(None).unwrap();
        assert!(store.len() > 50, "{}", store.len());
    }

    #[test]
    fn errors_do_not_echo_the_url() {
        let err = url_tls_mode("postgres://u:secret@h:notaport/d").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident(r#"We"ird"#), r#""We""ird""#);
    }
}
