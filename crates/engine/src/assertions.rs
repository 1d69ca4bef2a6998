//! User SQL assertions, run so that they cannot write or change anything.
//!
//! The checks configuration is deployment configuration, but an assertion is still arbitrary
//! SQL against a restore that is about to become the validated backup. PostgreSQL itself holds
//! it to reading, in three layers:
//! - the drill creates a login role on the server that may only read (`pg_read_all_data`, no
//!   other grants, valid for two hours), connects as it, and drops it afterwards — so even a
//!   `set_config('role', ...)` can only reach roles that read;
//! - each assertion is prepared first (extended protocol), which rejects more than one
//!   statement, and must return rows: `SET`, `COMMIT`, `ROLLBACK`, `BEGIN` return none and are
//!   refused;
//! - it runs in a `READ ONLY` transaction that is always rolled back, and a change of any
//!   setting during it (`set_config(...)`) fails the assertion.
//!
//! Every refusal is an `error` result, which fails the drill.

use std::collections::BTreeMap;
use std::time::Instant;

use drill_core::checks::{self, CheckResult, QueryOutcome, SqlAssertion};
use tokio_postgres::Client;

use crate::pg::{quote_ident, Credentials, Database};
use crate::validate::{is_timeout, pg_message};

/// The throwaway read-only login role of one validation.
struct Reader {
    name: String,
    password: String,
}

impl Reader {
    async fn create(admin: &Client) -> Result<Reader, String> {
        let name = format!(
            "drill_reader_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let password = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        // Sent as a SCRAM verifier, so the password never appears in a statement (or a log).
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let valid_until = (chrono::Utc::now() + chrono::Duration::hours(2))
            .format("%Y-%m-%d %H:%M:%S+00")
            .to_string();
        let db: String = admin
            .query_one("SELECT current_database()::text", &[])
            .await
            .map_err(|e| pg_message(&e))?
            .get(0);
        let role = quote_ident(&name);
        // The session is read-only by default; this one transaction creates the role.
        let sql = format!(
            "BEGIN READ WRITE; \
             CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
               CONNECTION LIMIT 2 PASSWORD '{verifier}' VALID UNTIL '{valid_until}' IN ROLE pg_read_all_data; \
             GRANT CONNECT ON DATABASE {} TO {role}; \
             COMMIT",
            quote_ident(&db)
        );
        if let Err(e) = admin.batch_execute(&sql).await {
            let _ = admin.batch_execute("ROLLBACK").await;
            return Err(format!(
                "could not create the read-only role the assertions run as: {}",
                pg_message(&e)
            ));
        }
        Ok(Reader { name, password })
    }

    async fn drop(self, admin: &Client) {
        let role = quote_ident(&self.name);
        let sql = format!("BEGIN READ WRITE; DROP OWNED BY {role}; DROP ROLE {role}; COMMIT");
        if let Err(e) = admin.batch_execute(&sql).await {
            let _ = admin.batch_execute("ROLLBACK").await;
            tracing::warn!(role = %self.name, error = %pg_message(&e), "could not drop the read-only role (it expires within 2 h)");
        }
    }

    async fn connect(&self, target: &Database) -> Result<Client, String> {
        target
            .with_credentials(&Credentials::new(&self.name, &self.password))
            .connect()
            .await
            .map_err(|e| format!("could not connect as the read-only role: {e}"))
    }
}

/// Runs every assertion as a fresh read-only role; appends one result per assertion.
pub(crate) async fn run_all(
    target: &Database,
    admin: &Client,
    assertions: &[SqlAssertion],
    out: &mut Vec<CheckResult>,
) {
    if assertions.is_empty() {
        return;
    }
    let failed_all = |out: &mut Vec<CheckResult>, why: &str| {
        for a in assertions {
            out.push(checks::evaluate_assertion(
                a,
                &QueryOutcome::Failed(why.to_owned()),
            ));
        }
    };
    let reader = match Reader::create(admin).await {
        Ok(r) => r,
        Err(why) => return failed_all(out, &why),
    };
    match reader.connect(target).await {
        Err(why) => failed_all(out, &why),
        Ok(mut client) => {
            for a in assertions {
                let t = Instant::now();
                let outcome = run_one(&mut client, a).await;
                out.push(checks::evaluate_assertion(a, &outcome).took(t.elapsed()));
            }
        }
    }
    reader.drop(admin).await;
}

async fn settings(
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<BTreeMap<String, String>, String> {
    let rows = tx
        .query(
            "SELECT name::text, coalesce(setting, '')::text FROM pg_settings",
            &[],
        )
        .await
        .map_err(|e| pg_message(&e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn run_one(client: &mut Client, a: &SqlAssertion) -> QueryOutcome {
    let tx = match client.build_transaction().read_only(true).start().await {
        Ok(tx) => tx,
        Err(e) => return QueryOutcome::Failed(pg_message(&e)),
    };
    let setup = format!("SET LOCAL statement_timeout = {}", a.timeout().as_millis());
    if let Err(e) = tx.batch_execute(&setup).await {
        return QueryOutcome::Failed(pg_message(&e));
    }
    // One statement that returns rows: Parse rejects several, and utility statements have no
    // result columns.
    let statement = match tx.prepare(&a.query).await {
        Ok(s) => s,
        Err(e) => return QueryOutcome::Failed(pg_message(&e)),
    };
    if statement.columns().is_empty() {
        return QueryOutcome::Failed(
            "not a query: an assertion is one SELECT (or WITH/VALUES/TABLE/SHOW) that returns rows; \
             SET, BEGIN, COMMIT, ROLLBACK and writes are refused"
                .into(),
        );
    }
    let before = match settings(&tx).await {
        Ok(s) => s,
        Err(e) => return QueryOutcome::Failed(e),
    };
    // The statement was proven single by the prepare above; run it for its text output.
    let outcome = match tx.simple_query(&a.query).await {
        Ok(messages) => {
            let mut rows = 0u64;
            let mut first = None;
            for m in messages {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                    if first.is_none() {
                        first = Some(r.get(0).map(str::to_owned));
                    }
                    rows += 1;
                }
            }
            QueryOutcome::Rows { rows, first }
        }
        Err(e) if is_timeout(&e) => {
            return QueryOutcome::Failed(format!(
                "timed out after {}s ({})",
                a.timeout_seconds,
                pg_message(&e)
            ))
        }
        Err(e) => return QueryOutcome::Failed(pg_message(&e)),
    };
    let outcome = match settings(&tx).await {
        Ok(after) => {
            let changed: Vec<&str> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(v))
                .map(|(k, _)| k.as_str())
                .collect();
            if changed.is_empty() {
                outcome
            } else {
                QueryOutcome::Failed(format!(
                    "the assertion changed settings ({}); assertions may only read",
                    changed.join(", ")
                ))
            }
        }
        Err(e) => QueryOutcome::Failed(e),
    };
    let _ = tx.rollback().await;
    outcome
}
