//! The temporary database of a drill: created with this drill's ownership marker, dropped only
//! when every guard of [`drill_core::tempdb::check_drop`] passes, and found again by marker.

use drill_core::tempdb::{self, DropPolicy, TempDbFacts};
use tokio_postgres::Client;

use super::DrillError;
use crate::pg::{quote_ident, PgError};

/// Creates the temp database and marks it as this drill's.
pub async fn create_temp(admin: &Client, name: &str, drill_id: &str) -> Result<(), DrillError> {
    let create = format!("CREATE DATABASE {} TEMPLATE template0", quote_ident(name));
    admin
        .batch_execute(&create)
        .await
        .map_err(|e| DrillError::CreateTemp {
            name: name.to_owned(),
            source: PgError::query("CREATE DATABASE")(e),
        })?;
    // The marker is the owner guard's fact; a database without it is never dropped by us.
    // An E'' literal with backslashes and quotes escaped is safe whatever the server's
    // standard_conforming_strings; the drill id comes from execution input.
    // No CONNECT for PUBLIC: the restore server may also hold sandboxes, whose login roles
    // must not reach a drill's copy of production (the read-only assertions' role is granted
    // CONNECT by name).
    let comment = format!(
        "COMMENT ON DATABASE {0} IS E'{1}'; REVOKE CONNECT, TEMPORARY ON DATABASE {0} FROM PUBLIC",
        quote_ident(name),
        tempdb::ownership_marker(drill_id)
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
    );
    admin
        .batch_execute(&comment)
        .await
        .map_err(|e| DrillError::CreateTemp {
            name: name.to_owned(),
            source: PgError::query("COMMENT ON DATABASE")(e),
        })?;
    Ok(())
}

/// Drops a temp database only when every guard of [`tempdb::check_drop`] passes.
pub async fn drop_temp(
    admin: &Client,
    name: &str,
    policy: &DropPolicy,
) -> Result<bool, DrillError> {
    let row = admin
        .query_opt(
            "SELECT d.datname::text, pg_catalog.shobj_description(d.oid, 'pg_database'), \
                    d.datistemplate, current_database()::text \
             FROM pg_catalog.pg_database d WHERE d.datname = $1",
            &[&name],
        )
        .await
        .map_err(PgError::query("reading the temp database's catalog entry"))?;
    let Some(row) = row else { return Ok(false) };
    let facts = TempDbFacts {
        name: row.get(0),
        comment: row.get(1),
        is_template: row.get(2),
    };
    let mut policy = policy.clone();
    policy.session_database = row.get(3);
    tempdb::check_drop(&facts, &policy).map_err(|refusals| DrillError::DropRefused {
        name: name.to_owned(),
        refusals,
    })?;
    crate::pg::drop_database(admin, name).await?;
    Ok(true)
}

/// Temp databases on the server that carry the ownership marker of one of `drill_ids` (to
/// prove a cleanup complete; other drills' databases on a shared server are not counted).
pub async fn temp_databases_of(
    admin: &Client,
    drill_ids: &[String],
) -> Result<Vec<String>, PgError> {
    let rows = admin
        .query(
            "SELECT datname::text, pg_catalog.shobj_description(oid, 'pg_database') \
             FROM pg_catalog.pg_database ORDER BY 1",
            &[],
        )
        .await
        .map_err(PgError::query("listing temp databases"))?;
    Ok(rows
        .iter()
        .filter(|r| {
            r.get::<_, Option<String>>(1)
                .as_deref()
                .and_then(tempdb::marker_drill_id)
                .is_some_and(|id| drill_ids.iter().any(|d| d == id))
        })
        .map(|r| r.get(0))
        .collect())
}
