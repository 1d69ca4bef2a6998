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
//! are dropped only through [`drill_core::sandboxdb::check_drop`]; the role's marker is the one
//! trusted for the sandbox (its user may rewrite its database's comment, not its role's).
//!
//! Nothing the sandbox's user defines runs as the server's admin: once the password is out the
//! admin never connects to the sandbox database (the diff reads it as the sandbox's role; a
//! policy, view, operator or `ALTER DATABASE .. SET search_path` there runs with the role's
//! rights only), only to the maintenance database and to the base it made before.

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

/// The sandboxes on the server, by their *roles'* markers, oldest expiry first. The role's
/// comment is the trusted one: the sandbox's user owns its database and may rewrite that
/// database's comment (its owner, its expiry, the name it claims), but may not comment on any
/// role (that takes CREATEROLE), so only the role's marker decides who owns a sandbox and
/// when it expires.
pub async fn markers(admin: &Database, prefix: &str) -> Result<Vec<SandboxMarker>, SandboxError> {
    let client = admin.connect_as("restore-drill sandbox").await?;
    let rows = client
        .query(
            "SELECT rolname::text, pg_catalog.shobj_description(oid, 'pg_authid') \
             FROM pg_catalog.pg_roles WHERE rolname LIKE $1 ORDER BY 1",
            &[&format!("{}sbx-%", prefix.replace('_', "\\_"))],
        )
        .await
        .map_err(PgError::query("listing sandbox roles"))?;
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
    if drop_guarded(client, &sandboxdb::base_name(name), policy).await? {
        dropped.push(sandboxdb::base_name(name));
    }
    if drop_database(client, name, policy).await? {
        dropped.push(name.to_owned());
    }
    if drop_role(client, name, policy).await? {
        dropped.push(format!("role {name}"));
    }
    Ok(dropped)
}

/// The role's marker (what its user cannot rewrite) and whether it has attributes beyond LOGIN.
async fn role_facts(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<Option<(Option<String>, bool)>, SandboxError> {
    let row = client
        .query_opt(
            "SELECT pg_catalog.shobj_description(oid, 'pg_authid'), \
                    rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls \
             FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query("reading the sandbox role"))?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Drops the sandbox database `name`: it must be owned by the role of the same name, and the
/// guards run on that role's marker (the database's own comment is its user's to change).
async fn drop_database(
    client: &tokio_postgres::Client,
    name: &str,
    policy: &SandboxDropPolicy,
) -> Result<bool, SandboxError> {
    let row = client
        .query_opt(
            "SELECT pg_catalog.pg_get_userbyid(datdba)::text, datistemplate \
             FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query("reading the sandbox database"))?;
    let Some(row) = row else { return Ok(false) };
    let (owner, is_template): (String, bool) = (row.get(0), row.get(1));
    let role_comment = role_facts(client, name).await?.and_then(|(c, _)| c);
    let facts = SandboxDbFacts {
        name: name.to_owned(),
        comment: role_comment,
        is_template,
    };
    let mut refusals = sandboxdb::check_drop(&facts, policy)
        .err()
        .unwrap_or_default();
    if owner != name {
        refusals.push(Refusal {
            identifier: name.to_owned(),
            guard: "owner-role".into(),
            reason: format!("the database is owned by {owner:?}, not by the sandbox's role"),
        });
    }
    if !refusals.is_empty() {
        return Err(SandboxError::DropRefused {
            name: name.to_owned(),
            refusals,
        });
    }
    crate::pg::drop_database(client, name).await?;
    Ok(true)
}

/// Drops the login role of sandbox `name`: the same guards on its own marker, and never a role
/// with any attribute the drill does not give (a superuser or role-creator is not a sandbox's).
async fn drop_role(
    client: &tokio_postgres::Client,
    name: &str,
    policy: &SandboxDropPolicy,
) -> Result<bool, SandboxError> {
    let Some((comment, powers)) = role_facts(client, name).await? else {
        return Ok(false);
    };
    let facts = SandboxDbFacts {
        name: name.to_owned(),
        comment,
        is_template: false,
    };
    let mut refusals = sandboxdb::check_drop(&facts, policy)
        .err()
        .unwrap_or_default();
    if powers {
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
    // Sessions it still holds elsewhere (VALID UNTIL stops new logins, not open sessions).
    client
        .query(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
             WHERE usename = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query(format!("ending the sessions of {name}")))?;
    let role = quote_ident(name);
    // DROP OWNED: what the role made in this (maintenance) database goes with it.
    client
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .map_err(PgError::query(format!("dropping the sandbox role {name}")))?;
    Ok(true)
}
