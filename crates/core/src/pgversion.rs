//! Which `pg_dump` may dump which server. pg_dump "cannot dump from servers newer than its own
//! major version; it will refuse to even try" (PostgreSQL docs, pg_dump Notes): the export checks
//! the pairing before it reads any data, so a nightly drill fails with the fix in the message
//! rather than halfway through with pg_dump's own error.

/// The major version in `pg_dump --version` output: `pg_dump (PostgreSQL) 18.6` -> 18,
/// `pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` -> 15, `9.6.24` -> 9.
pub fn pg_dump_major(version_output: &str) -> Option<u32> {
    let line = version_output.lines().next()?;
    let rest = line.strip_prefix("pg_dump")?;
    let number = rest
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let major = number
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(major)
}

/// The major of `server_version_num` (180006 -> 18, 150014 -> 15; before 10: 90624 -> 9).
pub fn server_major(server_version_num: i64) -> u32 {
    (server_version_num / 10_000) as u32
}

/// `Err` with the whole explanation when `client_major` cannot dump a server of `server_major`.
pub fn check_pairing(
    program: &str,
    client_major: u32,
    server_major: u32,
    server_version: &str,
) -> Result<(), String> {
    if client_major >= server_major {
        return Ok(());
    }
    Err(format!(
        "pg_dump {client_major} ({program}) cannot dump this PostgreSQL {server_major} server \
         (server_version {server_version}): pg_dump refuses servers newer than its own major. \
         Use a pg_dump of major {server_major} or newer: deploy the export function's own package \
         (scripts/pg-binaries package, pg_dump of the newest major) instead of an older \
         pg_dump_layer_arns layer, or point DRILL_PG_DUMP (drill: --pg-dump) at a newer pg_dump"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_are_read_from_every_spelling() {
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 18.6\n"), Some(18));
        assert_eq!(
            pg_dump_major("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(pg_dump_major("psql (PostgreSQL) 18.6"), None);
        assert_eq!(pg_dump_major(""), None);
        assert_eq!(server_major(180006), 18);
        assert_eq!(server_major(150014), 15);
        assert_eq!(server_major(90624), 9);
    }

    #[test]
    fn an_older_client_is_refused_naming_both_and_the_fix() {
        assert!(check_pairing("/x/pg_dump", 18, 15, "15.14").is_ok());
        assert!(check_pairing("/x/pg_dump", 17, 17, "17.2").is_ok());
        let e = check_pairing("/opt/bin/pg_dump", 15, 17, "17.2").unwrap_err();
        for part in [
            "pg_dump 15",
            "/opt/bin/pg_dump",
            "PostgreSQL 17",
            "17.2",
            "scripts/pg-binaries",
            "DRILL_PG_DUMP",
        ] {
            assert!(e.contains(part), "{part} missing: {e}");
        }
    }
}
