//! The one connection descriptor: [`Database`] (server, database, credentials, TLS mode and
//! [`ConnectOptions`]), built from a `postgres://` URL or from an event's [`ConnectionSpec`]
//! with resolved [`Credentials`], and used by export, restore, validation and the drills — in the
//! manner of tokio-postgres's `Config`, which it wraps.

use std::path::PathBuf;
use std::time::Duration;

use drill_core::events::{ConnectionSpec, SecretRef, TlsMode};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};

use super::secret::Credentials;
use super::tls::{tls_connector, url_tls_mode};
use super::{error_text, PgError};

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

/// A database to connect to: where, as whom, how (TLS, timeouts). The password is held privately
/// and never printed (`Debug` shows `host:port/database` and the TLS mode); one value serves any
/// number of connections, `pg_dump`'s libpq environment, and the events ([`Database::spec`]).
#[derive(Clone)]
pub struct Database {
    config: Config,
    pub(crate) tls: TlsMode,
    /// The secret the credentials were resolved from (events carry it instead of a password);
    /// `None` for a URL.
    secret: Option<SecretRef>,
    options: ConnectOptions,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("target", &self.describe())
            .field("tls", &self.tls)
            .finish()
    }
}

impl Database {
    /// From a `postgres://user:password@host:port/database` URL (TLS as [`url_tls_mode`]
    /// decides). The database defaults to the user name, as in libpq.
    pub fn from_url(url: &str) -> Result<Self, PgError> {
        let (mut config, tls) = url_tls_mode(url)?;
        let user = config
            .get_user()
            .ok_or_else(|| PgError::InvalidUrl("no user name in the URL".into()))?
            .to_owned();
        if config.get_dbname().is_none() {
            config.dbname(&user);
        }
        Ok(Database {
            config,
            tls,
            secret: None,
            options: ConnectOptions::default(),
        })
    }

    /// From an event's connection spec and the credentials resolved from its secret.
    pub fn from_spec(spec: &ConnectionSpec, credentials: &Credentials) -> Self {
        let mut config = Config::new();
        config
            .host(&spec.host)
            .port(spec.port)
            .dbname(&spec.database)
            .user(&credentials.username)
            .password(credentials.password());
        Database {
            config,
            tls: spec.tls,
            secret: Some(spec.secret.clone()),
            options: ConnectOptions::default(),
        }
    }

    pub fn with_options(mut self, options: ConnectOptions) -> Self {
        self.options = options;
        self
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Self {
        let mut db = self.clone();
        db.config.dbname(database);
        db
    }

    /// The same database as another role (the secret reference no longer applies).
    pub fn with_credentials(&self, credentials: &Credentials) -> Self {
        let mut db = self.clone();
        db.config
            .user(&credentials.username)
            .password(credentials.password());
        db.secret = None;
        db
    }

    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// `host:port/database`, no credentials.
    pub fn describe(&self) -> String {
        describe(&self.config)
    }

    pub fn host(&self) -> String {
        first_host(&self.config)
    }

    pub fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    pub fn database_name(&self) -> String {
        self.config.get_dbname().unwrap_or("postgres").to_owned()
    }

    pub fn tls(&self) -> TlsMode {
        self.tls
    }

    pub fn is_tls(&self) -> bool {
        self.tls == TlsMode::VerifyFull
    }

    /// The secret-free form events carry; `None` for a database given by URL (there is no
    /// secret reference to name).
    pub fn spec(&self) -> Option<ConnectionSpec> {
        Some(ConnectionSpec {
            host: self.host(),
            port: self.port(),
            database: self.database_name(),
            secret: self.secret.clone()?,
            tls: self.tls,
        })
    }

    /// Connects with this descriptor's options.
    pub async fn connect(&self) -> Result<Client, PgError> {
        connect_config(self.config.clone(), self.tls, &self.options).await
    }

    /// Connects with another `application_name` (how monitors tell the sessions apart).
    pub async fn connect_as(&self, application: &str) -> Result<Client, PgError> {
        let mut options = self.options.clone();
        options.application_name = application.to_owned();
        connect_config(self.config.clone(), self.tls, &options).await
    }

    /// libpq environment for client programs (`pg_dump`): the password goes through
    /// `PGPASSWORD`, never the command line (visible in `ps`).
    pub(crate) fn libpq_env(&self, ca_file: Option<&std::path::Path>) -> Vec<(String, String)> {
        let mut env = vec![
            ("PGHOST".to_owned(), self.host()),
            ("PGPORT".to_owned(), self.port().to_string()),
        ];
        if let Some(u) = self.config.get_user() {
            env.push(("PGUSER".into(), u.to_owned()));
        }
        if let Some(p) = self.config.get_password() {
            env.push(("PGPASSWORD".into(), String::from_utf8_lossy(p).into_owned()));
        }
        env.push(("PGDATABASE".into(), self.database_name()));
        env.push(("PGAPPNAME".into(), "restore-drill pg_dump".into()));
        env.push((
            "PGCONNECT_TIMEOUT".into(),
            self.options.connect_timeout.as_secs().max(1).to_string(),
        ));
        match self.tls {
            TlsMode::Disable => env.push(("PGSSLMODE".into(), "disable".into())),
            TlsMode::VerifyFull => {
                env.push(("PGSSLMODE".into(), "verify-full".into()));
                if let Some(ca) = ca_file {
                    env.push(("PGSSLROOTCERT".into(), ca.display().to_string()));
                }
            }
        }
        env
    }

    pub(crate) fn ca_bundle(&self) -> Option<PathBuf> {
        self.options.ca_bundle.clone()
    }
}

fn first_host(config: &Config) -> String {
    match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    }
}

/// `host:port/database` of a config, never its credentials.
fn describe(config: &Config) -> String {
    format!(
        "{}:{}/{}",
        first_host(config),
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_dbname().unwrap_or("postgres")
    )
}

async fn connect_config(
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
            tokio::spawn(watch(conn));
            client
        }
        TlsMode::VerifyFull => {
            config.ssl_mode(SslMode::Require);
            let connector = tls_connector(options.ca_bundle.as_deref())?;
            let (client, conn) = config.connect(connector).await.map_err(connect_err)?;
            tokio::spawn(watch(conn));
            client
        }
    };
    Ok(client)
}

/// Drives a connection until it ends; an abnormal end is logged (the client sees its errors).
async fn watch<C: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(conn: C) {
    if let Err(e) = conn.await {
        tracing::warn!(error = %e, "PostgreSQL connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_env_carries_the_password_only_in_pgpassword() {
        let db = Database::from_url("postgres://u:s3cret@db.example.com:6543/app").unwrap();
        let env = db.libpq_env(Some(std::path::Path::new("/ca.pem")));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("PGPASSWORD").as_deref(), Some("s3cret"));
        assert_eq!(get("PGSSLMODE").as_deref(), Some("verify-full"));
        assert_eq!(get("PGSSLROOTCERT").as_deref(), Some("/ca.pem"));
        assert_eq!(get("PGPORT").as_deref(), Some("6543"));
        assert!(env
            .iter()
            .filter(|(k, _)| k != "PGPASSWORD")
            .all(|(_, v)| !v.contains("s3cret")));
        assert!(!format!("{db:?}").contains("s3cret"));
    }

    #[test]
    fn urls_become_databases_without_printing_the_password() {
        let db = Database::from_url("postgres://app:s3cret@db.example.com:6543/shop").unwrap();
        assert_eq!(db.describe(), "db.example.com:6543/shop");
        assert!(db.is_tls());
        assert!(!format!("{db:?}").contains("s3cret"));
        // A URL names no secret: it cannot go into an event.
        assert_eq!(db.spec(), None);
        let local = Database::from_url("postgres://u@127.0.0.1/").unwrap();
        assert!(!local.is_tls());
        assert_eq!(local.database_name(), "u");
        assert_eq!(local.with_database("x").describe(), "127.0.0.1:5432/x");
        assert!(Database::from_url("http://nope").is_err());
        assert!(Database::from_url("postgres://127.0.0.1/db").is_err());
    }

    #[test]
    fn specs_round_trip_and_other_credentials_drop_the_secret() {
        let spec = ConnectionSpec {
            host: "db.internal".into(),
            port: 5433,
            database: "app".into(),
            secret: SecretRef::SecretsManager {
                secret_id: "arn:aws:secretsmanager:eu-west-1:1:secret:x".into(),
            },
            tls: TlsMode::VerifyFull,
        };
        let db = Database::from_spec(&spec, &Credentials::new("admin", "pw1"));
        assert_eq!(db.spec().as_ref(), Some(&spec));
        assert_eq!(db.describe(), "db.internal:5433/app");
        let mut other = spec.clone();
        other.database = "tmp".into();
        assert_eq!(db.with_database("tmp").spec(), Some(other));
        let reader = db.with_credentials(&Credentials::new("reader", "pw2"));
        assert_eq!(reader.spec(), None);
        let env = reader.libpq_env(None);
        assert!(env.contains(&("PGUSER".into(), "reader".into())));
        assert!(env.contains(&("PGPASSWORD".into(), "pw2".into())));
    }
}
