//! Database credentials: a user name and password resolved from a [`SecretRef`] (Secrets
//! Manager or an environment variable), never printable.

use std::str::FromStr;

use drill_core::events::SecretRef;
use tokio_postgres::Config;

use super::tls::strip_sslmode;
use super::PgError;

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
}
