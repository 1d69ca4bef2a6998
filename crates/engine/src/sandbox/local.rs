//! Local sandboxes: the newest *validated* backup set of a source (the newest passed drill in its
//! history) restored into a database marked as a sandbox, plus its read-only base for the diff.
//!
//! The server's catalog is the truth (every sandbox database carries its
//! [`SandboxMarker`]); a small registry of 0600 files (`<name>.json`: what and where, no secret;
//! `<name>.pgpass`: the password, for `PGPASSFILE`) lets `connect` and `diff` find it without
//! typing a URL. Drops go through [`drill_core::sandboxdb::check_drop`].

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use drill_core::events::{ConnectionSpec, Refusal, SecretRef};
use drill_core::sandboxdb::{self, SandboxDbFacts, SandboxDropPolicy, SandboxMarker};
use serde::{Deserialize, Serialize};

use super::SandboxError;
use crate::drill::load_runs;
use crate::dump::{self, RestoreOptions};
use crate::pg::{quote_ident, Credentials, Database, PgError};
use crate::store::Store;

/// What `drill sandbox create` needs (from the drill configuration and the command line).
#[derive(Debug, Clone)]
pub struct CreateSpec {
    pub source_id: String,
    pub prefix: String,
    pub store: Store,
    pub history: Store,
    /// Maintenance database of the server the sandbox is created on (role with CREATEDB).
    pub server: Database,
    pub owner: String,
    pub expires_at: DateTime<Utc>,
    pub jobs: usize,
    pub state_dir: PathBuf,
}

/// A sandbox as the registry remembers it (no secret: the password is in the `.pgpass` file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub base: String,
    pub source_id: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub backup_set: String,
    /// The server's maintenance database (where drops run from).
    pub server: ConnectionSpec,
}

impl Entry {
    /// A descriptor of `database` on the sandbox's server with the registry's credentials.
    pub fn database(&self, state_dir: &Path, database: &str) -> Result<Database, SandboxError> {
        let (user, password) = read_pgpass(&pgpass_path(state_dir, &self.name))?;
        let mut spec = self.server.clone();
        spec.database = database.to_owned();
        Ok(Database::from_spec(
            &spec,
            &Credentials::new(user, password),
        ))
    }
}

fn entry_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

fn pgpass_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.pgpass"))
}

/// Creates the sandbox: restore, mark, copy the base. On failure after the database exists it
/// is dropped again (through the guards).
pub async fn create(spec: &CreateSpec) -> Result<Entry, SandboxError> {
    let set_url = newest_validated_set(&spec.history).await?;
    let set = spec.store.child(&relative_to(&spec.store, &set_url));
    let now = Utc::now();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = sandboxdb::sandbox_name(&spec.prefix, &spec.source_id, &id, now)?;
    let marker = SandboxMarker {
        role: sandboxdb::Role::Sandbox,
        database: name.clone(),
        owner: spec.owner.clone(),
        source_id: spec.source_id.clone(),
        expires_at: spec.expires_at,
    };
    let admin = spec.server.connect_as("restore-drill sandbox").await?;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(&name)
        ))
        .await
        .map_err(PgError::query(format!(
            "creating the sandbox database {name}"
        )))?;
    set_comment(&admin, &name, &marker.comment()).await?;
    let built = async {
        let target = spec.server.with_database(&name);
        let options = RestoreOptions {
            jobs: spec.jobs,
            no_owner: false,
        };
        dump::restore(&set, &target, &options).await?;
        let base = marker.for_base();
        crate::diff::make_base(&spec.server, &name, &base.database, Some(&base.comment())).await?;
        Ok::<_, SandboxError>(base.database)
    }
    .await;
    let base = match built {
        Ok(base) => base,
        Err(e) => {
            let policy = drop_policy(spec.prefix.clone(), &spec.owner, None, &spec.server, &[]);
            for db in [sandboxdb::base_name(&name), name.clone()] {
                if let Err(drop) = drop_guarded(&admin, &db, &policy).await {
                    tracing::error!(database = %db, error = %drop, "could not drop a half-made sandbox");
                }
            }
            return Err(e);
        }
    };
    let entry = Entry {
        name: name.clone(),
        base,
        source_id: spec.source_id.clone(),
        owner: spec.owner.clone(),
        created_at: now,
        expires_at: spec.expires_at,
        backup_set: set_url,
        server: server_spec(&spec.server),
    };
    write_private(&spec.state_dir, &entry, &spec.server)?;
    Ok(entry)
}

pub(super) async fn set_comment(
    admin: &tokio_postgres::Client,
    name: &str,
    comment: &str,
) -> Result<(), PgError> {
    let lit = comment.replace('\\', "\\\\").replace('\'', "\\'");
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS E'{lit}'",
            quote_ident(name)
        ))
        .await
        .map_err(PgError::query(format!("marking {name} as a sandbox")))
}

/// The backup set of the newest drill that passed: a set nobody proved restorable is not
/// offered as a copy of production.
async fn newest_validated_set(history: &Store) -> Result<String, SandboxError> {
    let runs = load_runs(history).await?;
    runs.iter()
        .filter(|r| r.report.passed)
        .max_by_key(|r| r.finished_at)
        .map(|r| r.backup_set.clone())
        .ok_or_else(|| SandboxError::NoValidatedSet {
            history: history.url_of(""),
        })
}

fn relative_to(store: &Store, url: &str) -> String {
    let base = store.url_of("");
    url.strip_prefix(base.trim_end_matches('/'))
        .unwrap_or(url)
        .trim_matches('/')
        .to_owned()
}

fn server_spec(server: &Database) -> ConnectionSpec {
    server.spec().unwrap_or_else(|| ConnectionSpec {
        host: server.host(),
        port: server.port(),
        database: server.database_name(),
        // Only a label: the registry's pgpass file holds the password.
        secret: SecretRef::Env {
            var: "PGPASSFILE".into(),
        },
        tls: server.tls(),
    })
}

/// Creates `dir` (0700) and writes the entry and its pgpass file (0600, created that way: never
/// world-readable, not even for a moment).
fn write_private(dir: &Path, entry: &Entry, server: &Database) -> Result<(), SandboxError> {
    let io = |what: &Path, e: std::io::Error| SandboxError::Registry {
        path: what.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io(dir, e))?;
    let env = server.libpq_env(None);
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let esc = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
    let line = format!(
        "{}:{}:*:{}:{}\n",
        esc(&get("PGHOST")),
        get("PGPORT"),
        esc(&get("PGUSER")),
        esc(&get("PGPASSWORD"))
    );
    let json = serde_json::to_vec_pretty(entry).unwrap_or_default();
    for (path, body) in [
        (pgpass_path(dir, &entry.name), line.into_bytes()),
        (entry_path(dir, &entry.name), json),
    ] {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        f.write_all(&body).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

fn read_pgpass(path: &Path) -> Result<(String, String), SandboxError> {
    let text = std::fs::read_to_string(path).map_err(|e| SandboxError::Registry {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    // host:port:db:user:password with \: and \\ escapes.
    let mut fields = vec![String::new()];
    let mut chars = text.trim_end_matches('\n').chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields
                .last_mut()
                .into_iter()
                .for_each(|f| f.extend(chars.next())),
            ':' => fields.push(String::new()),
            c => fields.last_mut().into_iter().for_each(|f| f.push(c)),
        }
    }
    match <[String; 5]>::try_from(fields) {
        Ok([_, _, _, user, password]) => Ok((user, password)),
        Err(_) => Err(SandboxError::Registry {
            path: path.display().to_string(),
            reason: "not a one-line pgpass file (host:port:database:user:password)".into(),
        }),
    }
}

/// Every sandbox in the registry, oldest first.
pub fn list(state_dir: &Path) -> Result<Vec<Entry>, SandboxError> {
    let Ok(dir) = std::fs::read_dir(state_dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for f in dir.flatten() {
        let path = f.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read(&path).unwrap_or_default();
            match serde_json::from_slice::<Entry>(&text) {
                Ok(e) => out.push(e),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable sandbox registry file")
                }
            }
        }
    }
    out.sort_by_key(|e| e.created_at);
    Ok(out)
}

/// The registry entry of sandbox `name`.
pub fn find(state_dir: &Path, name: &str) -> Result<Entry, SandboxError> {
    list(state_dir)?
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| SandboxError::Unknown {
            name: name.to_owned(),
            dir: state_dir.display().to_string(),
        })
}

/// A `psql` on the sandbox: the password reaches it through `PGPASSFILE` (the 0600 registry
/// file), never the command line or this process's output.
pub fn psql(state_dir: &Path, entry: &Entry, psql: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(psql);
    let db = entry
        .database(state_dir, &entry.name)
        .map(|d| d.libpq_env(None))
        .unwrap_or_default();
    for (k, v) in db {
        if k != "PGPASSWORD" {
            cmd.env(k, v);
        }
    }
    cmd.env_remove("PGPASSWORD")
        .env("PGPASSFILE", pgpass_path(state_dir, &entry.name))
        .env("PGAPPNAME", "restore-drill sandbox psql");
    cmd
}

fn drop_policy(
    prefix: String,
    user: &str,
    expired_by: Option<DateTime<Utc>>,
    server: &Database,
    protected: &[String],
) -> SandboxDropPolicy {
    SandboxDropPolicy {
        prefix,
        user: user.to_owned(),
        expired_by,
        source_database: String::new(),
        session_database: server.database_name(),
        protected: protected.to_vec(),
    }
}

/// Who may drop what, from the caller.
#[derive(Debug, Clone)]
pub struct DeleteSpec {
    pub prefix: String,
    pub user: String,
    pub source_database: String,
    pub protected: Vec<String>,
    pub state_dir: PathBuf,
}

/// Drops a sandbox and its base (guards first, each database on its own) and forgets it.
pub async fn delete(spec: &DeleteSpec, entry: &Entry) -> Result<Vec<String>, SandboxError> {
    let admin_db = entry.database(&spec.state_dir, &entry.server.database)?;
    let mut policy = drop_policy(
        spec.prefix.clone(),
        &spec.user,
        None,
        &admin_db,
        &spec.protected,
    );
    policy.source_database = spec.source_database.clone();
    let admin = admin_db.connect_as("restore-drill sandbox").await?;
    let mut dropped = Vec::new();
    for db in [&entry.base, &entry.name] {
        if drop_guarded(&admin, db, &policy).await? {
            dropped.push(db.clone());
        }
    }
    forget(&spec.state_dir, &entry.name);
    Ok(dropped)
}

/// The janitor: drops every expired sandbox (and base) of `spec.user` on the server, found by
/// its marker in the catalog (so a sandbox whose registry file was lost still goes).
pub async fn sweep(
    spec: &DeleteSpec,
    server: &Database,
    now: DateTime<Utc>,
) -> Result<Vec<String>, SandboxError> {
    let mut policy = drop_policy(
        spec.prefix.clone(),
        &spec.user,
        Some(now),
        server,
        &spec.protected,
    );
    policy.source_database = spec.source_database.clone();
    let admin = server.connect_as("restore-drill sandbox janitor").await?;
    let rows = admin
        .query(
            "SELECT datname::text, pg_catalog.shobj_description(oid, 'pg_database') \
             FROM pg_catalog.pg_database WHERE datname LIKE $1 ORDER BY 1",
            &[&format!("{}sbx-%", spec.prefix.replace('_', "\\_"))],
        )
        .await
        .map_err(PgError::query("listing sandbox databases"))?;
    let mut dropped = Vec::new();
    for row in rows {
        let (name, comment): (String, Option<String>) = (row.get(0), row.get(1));
        let expired = comment
            .as_deref()
            .and_then(SandboxMarker::parse)
            .is_some_and(|m| m.owner == spec.user && m.expires_at <= now);
        if expired && drop_guarded(&admin, &name, &policy).await? {
            forget(&spec.state_dir, &name);
            dropped.push(name);
        }
    }
    Ok(dropped)
}

fn forget(dir: &Path, name: &str) {
    for p in [entry_path(dir, name), pgpass_path(dir, name)] {
        let _ = std::fs::remove_file(p);
    }
}

/// Drops `name` only when every guard passes; `false` when it does not exist.
pub(super) async fn drop_guarded(
    admin: &tokio_postgres::Client,
    name: &str,
    policy: &SandboxDropPolicy,
) -> Result<bool, SandboxError> {
    let row = admin
        .query_opt(
            "SELECT pg_catalog.shobj_description(oid, 'pg_database'), datistemplate \
             FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query("reading the sandbox's catalog entry"))?;
    let Some(row) = row else { return Ok(false) };
    let facts = SandboxDbFacts {
        name: name.to_owned(),
        comment: row.get(0),
        is_template: row.get(1),
    };
    sandboxdb::check_drop(&facts, policy).map_err(|refusals: Vec<Refusal>| {
        SandboxError::DropRefused {
            name: name.to_owned(),
            refusals,
        }
    })?;
    crate::pg::drop_database(admin, name).await?;
    Ok(true)
}
