//! TLS of PostgreSQL connections: the CA bundle (the shipped Amazon RDS one or a given file),
//! the rustls connector, and the TLS mode a `postgres://` URL asks for (never unverified).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use drill_core::events::TlsMode;
use tokio_postgres::Config;

use super::PgError;

/// Environment variable that lets a function connect to PostgreSQL without TLS (local stacks
/// only). Here, not in the Lambda module, because function settings outside it (the sandbox
/// function's) read it too.
pub const ALLOW_PLAINTEXT_VAR: &str = "DRILL_ALLOW_PLAINTEXT";

/// Whether `DRILL_ALLOW_PLAINTEXT=true` is set.
pub fn allow_plaintext(var: &dyn Fn(&str) -> Option<String>) -> bool {
    var(ALLOW_PLAINTEXT_VAR).as_deref() == Some("true")
}

/// The Amazon RDS CA bundle shipped in the repository (see certs/README.md).
pub const RDS_CA_BUNDLE: &str = include_str!("../../../../certs/rds-ca-bundle.pem");

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

pub(super) fn tls_connector(
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
pub(super) fn strip_sslmode(url: &str) -> (String, Option<String>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
