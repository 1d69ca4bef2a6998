//! Sandboxes of backup-set sources in AWS: the newest validated set restored into a sandbox
//! database on the source's restore server (the one the nightly drill restores it on), served by
//! the sandbox functions.
//!
//! The server's admin secret never leaves the function. Each sandbox gets its own login role
//! (named as its database, no attribute beyond LOGIN, `VALID UNTIL` its expiry, so the password
//! stops working even if the janitor never runs) that owns the sandbox database and everything
//! restored into it, and nothing else; `PUBLIC` may not connect to the sandbox nor to its base.
//! The role's password goes to a Secrets Manager secret of the sandbox ([`super::secret`]), as
//! an RDS sandbox's managed secret. Database, base and role all carry the [`SandboxMarker`] and
//! are dropped only through [`drill_core::sandboxdb::check_drop`].

use chrono::{DateTime, Utc};
use drill_core::events::{ConnectionSpec, Refusal};
use drill_core::sandbox::SandboxInfo;
use drill_core::sandboxdb::{self, SandboxDbFacts, SandboxDropPolicy, SandboxMarker};

use super::local::{drop_guarded, set_comment};
use super::SandboxError;
use crate::dump::{self, RestoreOptions};
use crate::pg::{quote_ident, Credentials, Database, PgError};
use crate::store::Store;

/// Most sessions a sandbox role may hold (psql, a migration tool, a diff of its own).
const CONNECTION_LIMIT: u32 = 16;

/// What `sandbox_create` restores, for whom, until when.
#[derive(Debug, Clone)]
pub struct NewDbSandbox {
    pub source_id: String,
    pub prefix: String,
    /// The validated backup set (a drill run restored and checked it).
    pub set: Store,
    pub owner: String,
    pub expires_at: DateTime<Utc>,
    pub jobs: usize,
}

/// A made sandbox: what the caller is told, and the role's credentials (for the secret only).
pub struct Made {
    pub info: SandboxInfo,
    pub marker: SandboxMarker,
    pub credentials: Credentials,
}

fn lit(text: &str) -> String {
    // E'' with backslashes and quotes escaped: safe whatever standard_conforming_strings.
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn info(server: &ConnectionSpec, marker: &SandboxMarker, restored_from: &str) -> SandboxInfo {
    SandboxInfo {
        identifier: marker.database.clone(),
        source_id: marker.source_id.clone(),
        owner: marker.owner.clone(),
        expires_at: Some(marker.expires_at),
        status: "available".into(),
        restored_from: restored_from.to_owned(),
        endpoint: Some(server.host.clone()),
        port: Some(i32::from(server.port)),
        database: Some(marker.database.clone()),
        secret_arn: None,
    }
}

/// Creates the role and the database, restores the set as that role, and makes the read-only
/// base the diff compares with, before anyone has the password. On a failure after the role
/// exists everything made so far is dropped again (through the guards).
pub async fn create(
    admin: &Database,
    server: &ConnectionSpec,
    new: &NewDbSandbox,
    now: DateTime<Utc>,
) -> Result<Made, SandboxError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = sandboxdb::sandbox_name(&new.prefix, &new.source_id, &id, now)?;
    let marker = SandboxMarker {
        role: sandboxdb::Role::Sandbox,
        database: name.clone(),
        owner: new.owner.clone(),
        source_id: new.source_id.clone(),
        expires_at: new.expires_at,
    };
    let password = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let client = admin.connect_as("restore-drill sandbox").await?;
    let role = quote_ident(&name);
    // A SCRAM verifier, so the password is in no statement (nor the server's log). INHERIT (the
    // default) is needed: the public schema is pg_database_owner's, which the owner is implicitly.
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    let valid_until = new.expires_at.format("%Y-%m-%d %H:%M:%S+00");
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
               NOBYPASSRLS CONNECTION LIMIT {CONNECTION_LIMIT} \
               PASSWORD '{verifier}' VALID UNTIL '{valid_until}'; \
             COMMENT ON ROLE {role} IS {}; \
             GRANT {role} TO CURRENT_USER",
            lit(&marker.comment())
        ))
        .await
        .map_err(PgError::query(format!("creating the sandbox role {name}")))?;
    let credentials = Credentials::new(name.clone(), password);
    let built = async {
        // CREATE DATABASE runs alone: it may not be part of a multi-statement transaction.
        client
            .batch_execute(&format!(
                "CREATE DATABASE {role} OWNER {role} TEMPLATE template0"
            ))
            .await
            .map_err(PgError::query(format!(
                "creating the sandbox database {name}"
            )))?;
        set_comment(&client, &name, &marker.comment()).await?;
        client
            .batch_execute(&format!("REVOKE ALL ON DATABASE {role} FROM PUBLIC"))
            .await
            .map_err(PgError::query(format!("closing {name} to other roles")))?;
        // Restored as the sandbox role: it owns what it may change (a migration's ALTER TABLE).
        let mut spec = server.clone();
        spec.database = name.clone();
        let target = Database::from_spec(&spec, &credentials).with_options(admin.options().clone());
        let options = RestoreOptions {
            jobs: new.jobs,
            no_owner: true,
        };
        dump::restore(&new.set, &target, &options).await?;
        let base = marker.for_base();
        crate::diff::make_base(admin, &name, &base.database, Some(&base.comment())).await?;
        Ok::<_, SandboxError>(())
    }
    .await;
    if let Err(e) = built {
        let policy = drop_policy(&new.prefix, &new.owner, None, admin, &[]);
        if let Err(drop) = drop_all(&client, &name, &policy).await {
            tracing::error!(sandbox = %name, error = %drop, "could not drop a half-made sandbox");
        }
        return Err(e);
    }
    tracing::info!(sandbox = %name, set = %new.set.url_of(""), "backup-set sandbox restored");
    Ok(Made {
        info: info(server, &marker, new.set.url_of("").trim_end_matches('/')),
        marker,
        credentials,
    })
}

/// The sandbox databases on the server whose marker is valid, oldest expiry first.
pub async fn markers(admin: &Database, prefix: &str) -> Result<Vec<SandboxMarker>, SandboxError> {
    let client = admin.connect_as("restore-drill sandbox").await?;
    let rows = client
        .query(
            "SELECT datname::text, pg_catalog.shobj_description(oid, 'pg_database') \
             FROM pg_catalog.pg_database WHERE datname LIKE $1 ORDER BY 1",
            &[&format!("{}sbx-%", prefix.replace('_', "\\_"))],
        )
        .await
        .map_err(PgError::query("listing sandbox databases"))?;
    let mut out: Vec<SandboxMarker> = rows
        .iter()
        .filter_map(|r| {
            let (name, comment): (String, Option<String>) = (r.get(0), r.get(1));
            let m = SandboxMarker::parse(comment.as_deref()?)?;
            (m.role == sandboxdb::Role::Sandbox && m.database == name).then_some(m)
        })
        .collect();
    out.sort_by_key(|m| m.expires_at);
    Ok(out)
}

/// The caller's sandboxes on this server.
pub async fn list(
    admin: &Database,
    server: &ConnectionSpec,
    prefix: &str,
    owner: &str,
) -> Result<Vec<SandboxInfo>, SandboxError> {
    Ok(markers(admin, prefix)
        .await?
        .iter()
        .filter(|m| m.owner == owner)
        .map(|m| info(server, m, "backup set"))
        .collect())
}

/// The sandbox `name` on this server, if there is one (whoever owns it: the guards decide).
pub async fn find(
    admin: &Database,
    prefix: &str,
    name: &str,
) -> Result<Option<SandboxMarker>, SandboxError> {
    Ok(markers(admin, prefix)
        .await?
        .into_iter()
        .find(|m| m.database == name))
}

/// The sandbox `name` of `owner`, as `connect` and `diff` see it; another owner's is refused by
/// the same guard a drop would be.
pub async fn owned(
    admin: &Database,
    server: &ConnectionSpec,
    prefix: &str,
    owner: &str,
    name: &str,
) -> Result<Option<SandboxInfo>, SandboxError> {
    let Some(m) = find(admin, prefix, name).await? else {
        return Ok(None);
    };
    if m.owner != owner {
        return Err(SandboxError::DropRefused {
            name: name.to_owned(),
            refusals: vec![Refusal {
                identifier: name.to_owned(),
                guard: "owner".into(),
                reason: format!("the sandbox belongs to {}, not to the caller", m.owner),
            }],
        });
    }
    Ok(Some(info(server, &m, "backup set")))
}

/// The base of sandbox `name`, once its marker proves restore-drill made it for that sandbox:
/// a diff against anything else would be a verdict on the wrong data.
pub async fn base_of(admin: &Database, name: &str) -> Result<String, SandboxError> {
    let base = sandboxdb::base_name(name);
    let client = admin.connect_as("restore-drill sandbox").await?;
    let comment: Option<String> = client
        .query_opt(
            "SELECT pg_catalog.shobj_description(oid, 'pg_database') \
             FROM pg_catalog.pg_database WHERE datname = $1",
            &[&base],
        )
        .await
        .map_err(PgError::query(format!("looking for {base}")))?
        .and_then(|r| r.get(0));
    match comment.as_deref().and_then(SandboxMarker::parse) {
        Some(m) if m.role == sandboxdb::Role::SandboxBase && m.database == base => Ok(base),
        _ => Err(SandboxError::Base {
            identifier: name.to_owned(),
            reason: format!(
                "no base copy {base} made by restore-drill: no trusted base to compare with"
            ),
        }),
    }
}

pub fn drop_policy(
    prefix: &str,
    user: &str,
    expired_by: Option<DateTime<Utc>>,
    admin: &Database,
    protected: &[String],
) -> SandboxDropPolicy {
    SandboxDropPolicy {
        prefix: prefix.to_owned(),
        user: user.to_owned(),
        expired_by,
        source_database: String::new(),
        session_database: admin.database_name(),
        protected: protected.to_vec(),
    }
}

/// Drops the sandbox's base, its database and its role, each behind the guards (what is already
/// gone is skipped); returns what was dropped.
pub async fn drop_sandbox(
    admin: &Database,
    name: &str,
    policy: &SandboxDropPolicy,
) -> Result<Vec<String>, SandboxError> {
    let client = admin.connect_as("restore-drill sandbox").await?;
    drop_all(&client, name, policy).await
}

async fn drop_all(
    client: &tokio_postgres::Client,
    name: &str,
    policy: &SandboxDropPolicy,
) -> Result<Vec<String>, SandboxError> {
    let mut dropped = Vec::new();
    for db in [sandboxdb::base_name(name), name.to_owned()] {
        if drop_guarded(client, &db, policy).await? {
            dropped.push(db);
        }
    }
    if drop_role(client, name, policy).await? {
        dropped.push(format!("role {name}"));
    }
    Ok(dropped)
}

/// Drops the login role of sandbox `name`: the same guards on its own marker, and never a role
/// with any attribute the drill does not give (a superuser or role-creator is not a sandbox's).
async fn drop_role(
    client: &tokio_postgres::Client,
    name: &str,
    policy: &SandboxDropPolicy,
) -> Result<bool, SandboxError> {
    let row = client
        .query_opt(
            "SELECT pg_catalog.shobj_description(oid, 'pg_authid'), \
                    rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls \
             FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query("reading the sandbox role"))?;
    let Some(row) = row else { return Ok(false) };
    let facts = SandboxDbFacts {
        name: name.to_owned(),
        comment: row.get(0),
        is_template: false,
    };
    let mut refusals = sandboxdb::check_drop(&facts, policy)
        .err()
        .unwrap_or_default();
    if row.get::<_, bool>(1) {
        refusals.push(Refusal {
            identifier: name.to_owned(),
            guard: "role".into(),
            reason: "the role has attributes beyond LOGIN: not a sandbox's".into(),
        });
    }
    if !refusals.is_empty() {
        return Err(SandboxError::DropRefused {
            name: name.to_owned(),
            refusals,
        });
    }
    let role = quote_ident(name);
    // DROP OWNED: what the role made in this (maintenance) database goes with it.
    client
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .map_err(PgError::query(format!("dropping the sandbox role {name}")))?;
    Ok(true)
}
