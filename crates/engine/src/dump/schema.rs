//! Schema capture with `pg_dump --schema-only`, pre-data and post-data sections, against the
//! export's snapshot.

use std::path::PathBuf;

use super::{Database, DumpError};

/// The `pg_dump` to run: `DRILL_PG_DUMP`, else the one next to the local PostgreSQL server
/// binaries, else `pg_dump` on `PATH`.
pub(crate) fn pg_dump_program(explicit: Option<&PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("DRILL_PG_DUMP") {
        return PathBuf::from(p);
    }
    if let Ok(dir) = crate::pgbin::pg_bindir() {
        let p = dir.join("pg_dump");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("pg_dump")
}

/// The major version of `program` (`pg_dump --version`), to check against the server's before
/// any data is read.
pub(crate) async fn pg_dump_major(program: &std::path::Path) -> Result<u32, DumpError> {
    let err = |reason: String| DumpError::PgDump {
        section: "version".into(),
        reason,
    };
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| err(format!("could not run {}: {e}", program.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(err(format!(
            "{} --version exited with {}: {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    drill_core::pgversion::pg_dump_major(&text).ok_or_else(|| {
        err(format!(
            "{} --version printed {:?}, not a pg_dump version",
            program.display(),
            text.trim()
        ))
    })
}

/// Removes the psql meta-commands recent pg_dump versions put around plain output
/// (`\restrict <key>` / `\unrestrict <key>`), so the file is plain SQL a driver can execute.
/// Only the exact lines carrying the dump's own key are removed, so a function body that happens
/// to contain a backslash line is left alone.
pub fn strip_psql_meta(sql: &str) -> String {
    let key = sql
        .lines()
        .find_map(|l| l.strip_prefix("\\restrict "))
        .map(|k| k.trim().to_owned());
    let Some(key) = key else {
        return sql.to_owned();
    };
    let restrict = format!("\\restrict {key}");
    let unrestrict = format!("\\unrestrict {key}");
    let mut out = String::with_capacity(sql.len());
    for line in sql.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == restrict || bare == unrestrict {
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Drops the session settings a newer pg_dump puts in its header that older servers do not know
/// (`SET transaction_timeout = 0;`, PostgreSQL 17+): the export uses the newest pg_dump for every
/// server, so a set of a PostgreSQL 15 database must still load into PostgreSQL 15. The setting
/// is only the default (no timeout), which the restore session has anyway.
pub fn for_any_server(sql: &str) -> String {
    const NEWER_ONLY: &[&str] = &["SET transaction_timeout = 0;"];
    let mut out = String::with_capacity(sql.len());
    for line in sql.split_inclusive('\n') {
        if NEWER_ONLY.contains(&line.trim_end_matches(['\n', '\r'])) {
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Removes ownership and privileges from a plain `pg_dump` schema script, like `pg_restore
/// --no-owner --no-acl`: for a restore server that lacks the source's roles (roles are global
/// objects, never part of a database's dump), where `ALTER ... OWNER TO app` or `GRANT ... TO
/// reader` would fail. Objects then belong to the restoring user.
///
/// The script is split into top-level statements by a small lexer that knows quotes, quoted
/// identifiers, dollar quotes and comments, so text inside a function body is never touched.
/// Dropped: `GRANT`, `REVOKE`, `ALTER DEFAULT PRIVILEGES`, and `ALTER ... OWNER TO ...`.
pub fn strip_ownership(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0; // sql[..copied] is decided
    let mut stmt_start: Option<usize> = None; // first byte of the current statement
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                stmt_start.get_or_insert(i);
                i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'\'' | b'"' => {
                stmt_start.get_or_insert(i);
                // Doubling the quote escapes it; both forms end at an odd quote.
                let mut j = i + 1;
                while j < b.len() {
                    if b[j] == c {
                        if b.get(j + 1) == Some(&c) {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            b'$' => {
                stmt_start.get_or_insert(i);
                let tag_len = sql[i + 1..]
                    .bytes()
                    .take_while(|x| x.is_ascii_alphanumeric() || *x == b'_')
                    .count();
                let starts_like_tag = sql[i + 1..]
                    .bytes()
                    .next()
                    .is_some_and(|x| x == b'$' || x.is_ascii_alphabetic() || x == b'_');
                if starts_like_tag && b.get(i + 1 + tag_len) == Some(&b'$') {
                    let tag = &sql[i..i + tag_len + 2];
                    let body = i + tag.len();
                    i = sql[body..]
                        .find(tag)
                        .map_or(b.len(), |n| body + n + tag.len());
                    continue;
                }
                i += 1;
                continue;
            }
            b';' => {
                if let Some(start) = stmt_start.take() {
                    let stmt = &sql[start..=i];
                    if is_ownership_or_privilege(stmt) {
                        out.push_str(&sql[copied..start]);
                        // Also the line break that ends the statement.
                        copied = if b.get(i + 1) == Some(&b'\n') {
                            i + 2
                        } else {
                            i + 1
                        };
                    }
                }
                i += 1;
                continue;
            }
            x if x.is_ascii_whitespace() => {}
            _ => {
                stmt_start.get_or_insert(i);
            }
        }
        i += 1;
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    out
}

fn is_ownership_or_privilege(stmt: &str) -> bool {
    let words: Vec<&str> = stmt.split_whitespace().collect();
    let upper = |n: usize| words.get(n).map(|w| w.to_ascii_uppercase());
    match upper(0).as_deref() {
        Some("GRANT" | "REVOKE") => true,
        Some("ALTER") => {
            (upper(1).as_deref() == Some("DEFAULT") && upper(2).as_deref() == Some("PRIVILEGES"))
                // The role may be a quoted name with spaces: look for the words, not the end.
                || words
                    .windows(2)
                    .any(|w| w[0].eq_ignore_ascii_case("OWNER") && w[1].eq_ignore_ascii_case("TO"))
        }
        _ => false,
    }
}

/// Runs `pg_dump --schema-only --section=<section> --snapshot=<snapshot>`; returns the SQL with
/// meta-commands stripped.
pub(crate) async fn dump_section(
    db: &Database,
    program: &std::path::Path,
    section: &str,
    snapshot: &str,
) -> Result<String, DumpError> {
    let err = |reason: String| DumpError::PgDump {
        section: section.to_owned(),
        reason,
    };
    // The shipped RDS CA bundle has to be a file for libpq.
    let mut ca_tmp = None;
    let ca_path = match db.ca_bundle() {
        Some(p) => Some(p),
        None if db.tls == drill_core::events::TlsMode::VerifyFull => {
            let f = tempfile::NamedTempFile::new().map_err(|e| err(format!("CA file: {e}")))?;
            std::fs::write(f.path(), crate::pg::RDS_CA_BUNDLE)
                .map_err(|e| err(format!("CA file: {e}")))?;
            let p = f.path().to_path_buf();
            ca_tmp = Some(f);
            Some(p)
        }
        None => None,
    };
    let mut cmd = tokio::process::Command::new(program);
    // Inherited PG* variables (PGSERVICE, PGOPTIONS, ...) could point pg_dump elsewhere.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&k);
        }
    }
    cmd.envs(db.libpq_env(ca_path.as_deref()))
        .arg("--schema-only")
        .arg(format!("--section={section}"))
        .arg(format!("--snapshot={snapshot}"))
        .arg("--no-password")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = cmd
        .output()
        .await
        .map_err(|e| err(format!("could not run {}: {e}", program.display())))?;
    drop(ca_tmp);
    if !out.status.success() {
        return Err(err(format!(
            "{} exited with {}: {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let sql = String::from_utf8(out.stdout).map_err(|_| err("output is not UTF-8".into()))?;
    Ok(strip_psql_meta(&sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_lines_with_the_dump_key_are_removed() {
        let sql = "--\n\\restrict abc123\n\nSET x = 1;\nCREATE FUNCTION f() AS $$\n\\restrict other\n$$;\n\\unrestrict abc123\n";
        let out = strip_psql_meta(sql);
        assert!(!out.contains("\\restrict abc123"), "{out}");
        assert!(!out.contains("\\unrestrict"), "{out}");
        assert!(out.contains("\\restrict other"), "{out}");
        assert!(out.contains("SET x = 1;\nCREATE FUNCTION"), "{out}");
    }

    const OWNED: &str = "--\n-- PostgreSQL database dump\n--\n\nSET x = 1;\n\n\
--\n-- Name: app; Type: SCHEMA; Schema: -; Owner: appowner\n--\n\nCREATE SCHEMA app;\n\n\n\
ALTER SCHEMA app OWNER TO appowner;\n\n\
--\n-- Name: f(); Type: FUNCTION; Schema: app; Owner: appowner\n--\n\n\
CREATE FUNCTION app.f() RETURNS void\n    LANGUAGE plpgsql\n    AS $$\nBEGIN\n\
ALTER TABLE app.t OWNER TO someone;\nEND $$;\n\n\nALTER FUNCTION app.f() OWNER TO appowner;\n\n\
SET default_tablespace = '';\n\n\
--\n-- Name: g(); Type: FUNCTION; Schema: app; Owner: appowner\n--\n\n\
CREATE FUNCTION app.g() RETURNS text\n    LANGUAGE sql\n    AS $_$SELECT 'x;' || $q$GRANT ALL ON t TO x;$q$ $_$;\n\n\n\
ALTER FUNCTION app.g() OWNER TO appowner;\n\n\
--\n-- Name: t; Type: TABLE; Schema: app; Owner: appowner\n--\n\n\
CREATE TABLE app.t (\n    id integer NOT NULL\n);\n\n\nALTER TABLE app.t OWNER TO appowner;\n\n\
ALTER TABLE app.u OWNER TO \"App Owner\";\n\n\
--\n-- Name: TABLE t; Type: ACL; Schema: app; Owner: appowner\n--\n\n\
GRANT SELECT ON TABLE app.t TO reader;\n\n\n\
--\n-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: app; Owner: appowner\n--\n\n\
ALTER DEFAULT PRIVILEGES FOR ROLE appowner IN SCHEMA app GRANT SELECT ON TABLES  TO reader;\n\n\n\
--\n-- PostgreSQL database dump complete\n--\n\n";

    #[test]
    fn ownership_and_privileges_are_removed_and_nothing_else() {
        let out = strip_ownership(OWNED);
        for gone in [
            "ALTER SCHEMA app OWNER TO appowner;",
            "ALTER FUNCTION app.f() OWNER TO appowner;",
            "ALTER FUNCTION app.g() OWNER TO appowner;",
            "ALTER TABLE app.t OWNER TO appowner;",
            "OWNER TO \"App Owner\"",
            "GRANT SELECT",
            "ALTER DEFAULT PRIVILEGES",
        ] {
            assert!(!out.contains(gone), "{gone} left in:\n{out}");
        }
        for kept in [
            "SET x = 1;",
            "CREATE SCHEMA app;",
            "CREATE TABLE app.t (\n    id integer NOT NULL\n);",
            // A function body is code, not an ownership statement of the dump.
            "ALTER TABLE app.t OWNER TO someone;\nEND $$;",
            "SET default_tablespace = '';",
            "AS $_$SELECT 'x;' || $q$GRANT ALL ON t TO x;$q$ $_$;",
            "-- PostgreSQL database dump complete",
        ] {
            assert!(out.contains(kept), "{kept} missing from:\n{out}");
        }
        // Idempotent, and a script without any of it is unchanged.
        assert_eq!(strip_ownership(&out), out);
        let plain = "SET x = 1;\nCREATE TABLE t ();\n";
        assert_eq!(strip_ownership(plain), plain);
    }

    #[test]
    fn settings_older_servers_lack_are_dropped_and_only_those() {
        let sql =
            "SET statement_timeout = 0;\nSET transaction_timeout = 0;\nSET lock_timeout = 0;\n\
                   CREATE FUNCTION f() AS $$ SET transaction_timeout = 0; $$;\n";
        let out = for_any_server(sql);
        assert_eq!(
            out,
            "SET statement_timeout = 0;\nSET lock_timeout = 0;\n\
             CREATE FUNCTION f() AS $$ SET transaction_timeout = 0; $$;\n"
        );
    }

    #[test]
    fn dumps_without_meta_commands_are_unchanged() {
        let sql = "SET x = 1;\nCREATE TABLE t ();\n";
        assert_eq!(strip_psql_meta(sql), sql);
    }
}
