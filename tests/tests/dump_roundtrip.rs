//! Export → restore round trips on the throwaway clusters of both majors (the packaged one and the
//! newest), dumped with the newest pg_dump as deployed (file:// and moto s3://), with equality
//! proven by pg_dump of source and restored database, materialized view contents and sequences.

use drill_core::manifest;
use drill_engine::dump::ExportOptions;
use drill_tests::dump::*;
use drill_tests::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinook_round_trips_through_a_file_store() {
    for server in drill_tests::servers() {
        let src = TestDb::create_on(&server.url, "dump_chinook_").await;
        load_chinook(&src);
        let (_dir, store) = file_store();
        let (out, _restored) = round_trip(&src, &store, &ExportOptions::default()).await;
        let m = &out.manifest;
        assert_eq!(
            m.tables.len(),
            11,
            "{:?}",
            m.tables.iter().map(|t| &t.name).collect::<Vec<_>>()
        );
        let track = m
            .tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case("track"))
            .unwrap();
        assert_eq!(track.rows, 3503);
        assert!(track
            .columns
            .iter()
            .any(|c| c.type_name.starts_with("numeric")));
        // The layout the issue asks for, manifest last and complete.
        let root = std::path::PathBuf::from(out.set_url.strip_prefix("file://").unwrap());
        for key in [
            manifest::PRE_DATA_KEY,
            manifest::POST_DATA_KEY,
            manifest::SEQUENCES_KEY,
            manifest::MANIFEST_KEY,
        ] {
            assert!(root.join(key).is_file(), "{key}");
        }
        let pre = std::fs::read_to_string(root.join(manifest::PRE_DATA_KEY)).unwrap();
        assert!(
            !pre.contains("\\restrict") && pre.contains("CREATE TABLE"),
            "psql meta-commands must be stripped"
        );
        let post = std::fs::read_to_string(root.join(manifest::POST_DATA_KEY)).unwrap();
        assert!(post.contains("PRIMARY KEY") && !post.contains("CREATE TABLE"));
        assert!(!std::fs::read_to_string(root.join(manifest::MANIFEST_KEY))
            .unwrap()
            .contains(&src.url));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagila_with_rows_in_every_table_round_trips_through_s3() {
    for server in drill_tests::servers() {
        let src = TestDb::create_on(&server.url, "dump_pagila_").await;
        load_pagila(&src);
        let bucket = create_bucket(false).await;
        let store = s3_store(&format!("s3://{bucket}/backups")).await;
        let (out, _restored) = round_trip(&src, &store, &ExportOptions::default()).await;
        let m = &out.manifest;
        // Leaf partitions are tables of their own; the partitioned parent holds no rows.
        assert!(m.tables.iter().any(|t| t.name == "payment_p2026_07"));
        assert!(!m.tables.iter().any(|t| t.name == "payment"));
        for t in &m.tables {
            assert!(
                t.rows > 0,
                "table {} is empty: the test data must fill every table",
                t.display_name()
            );
        }
        assert!(
            out.set_url.starts_with(&format!("s3://{bucket}/backups/")),
            "{}",
            out.set_url
        );
        let summary = out.summary();
        assert_eq!(summary.tables as usize, m.tables.len());
        assert!(summary.compressed_bytes < summary.raw_bytes);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_split_into_many_chunks_round_trips() {
    let src = TestDb::create("dump_pgbench_").await;
    load_pgbench(&src, 1);
    // Some churn so pages have holes and rows are not in insertion order.
    psql(
        &src.url,
        "UPDATE pgbench_accounts SET abalance = aid % 97 WHERE aid % 5 = 0; \
         DELETE FROM pgbench_accounts WHERE aid % 13 = 0;",
    );
    let (_dir, store) = file_store();
    let options = ExportOptions {
        jobs: 3,
        chunk_bytes: 1024 * 1024,
        ..ExportOptions::default()
    };
    let (out, _restored) = round_trip(&src, &store, &options).await;
    let accounts = out
        .manifest
        .tables
        .iter()
        .find(|t| t.name == "pgbench_accounts")
        .unwrap();
    assert!(
        accounts.objects.len() >= 10,
        "{} chunks",
        accounts.objects.len()
    );
    assert_eq!(accounts.rows, 100_000 - 100_000 / 13);
    let keys: Vec<&str> = accounts.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys[0], "data/public.pgbench_accounts.0000.copy.zst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_cases_round_trip_through_file_and_s3() {
    for server in drill_tests::servers() {
        let src = TestDb::create_on(&server.url, "dump_hard_").await;
        psql(&src.url, &fixture("hard_cases.sql"));
        let (_dir, store) = file_store();
        let (out, restored) = round_trip(&src, &store, &ExportOptions::default()).await;
        let m = &out.manifest;
        let find = |name: &str| {
            m.tables
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(find("empty_table").rows, 0);
        assert_eq!(find("no_columns").rows, 2);
        assert_eq!(find("parent_inh").rows, 1, "ONLY the parent's own rows");
        assert_eq!(find("child_inh").rows, 1);
        let orders = find("Orders \"Quoted\"");
        assert_eq!(orders.schema, "Sales Ünïcode");
        assert!(
            !orders.columns.iter().any(|c| c.name == "total"),
            "generated columns are not copied"
        );
        assert!(
            orders
                .columns
                .iter()
                .any(|c| c.type_name == "public.mood[]"),
            "{:?}",
            orders.columns
        );
        assert!(!find("t.with.dots").columns.iter().any(|c| c.name == "gone"));
        // A TOASTed multi-MB value made it (also covered by the dump comparison).
        let c = drill_tests::connect(&restored.url).await;
        let len: i32 = c
            .query_one(
                "SELECT octet_length(blob) FROM archive.big_toast WHERE id = 1",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(len, 3_200_000);
        let total: i32 = c
            .query_one(
                r#"SELECT total FROM "Sales Ünïcode"."Orders ""Quoted""" WHERE "Id" = 5"#,
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(total, 10, "generated column recomputed on load");

        let bucket = create_bucket(false).await;
        let s3 = s3_store(&format!("s3://{bucket}")).await;
        round_trip(
            &src,
            &s3,
            &ExportOptions {
                jobs: 1,
                ..ExportOptions::default()
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_lambda_dumps_the_source_named_by_a_secret_reference() {
    // A backup-set source: the export reads its temp database (named from the drill) on the
    // configured server, and writes under the configured backups URL.
    let drill = serde_json::json!({"drill_id": "exec-1", "source_id": "prod-app", "started_at": "2026-01-01T00:00:00Z"});
    let name = drill_core::tempdb::temp_database_name(
        "rdrill-",
        "prod-app",
        "exec-1",
        "2026-01-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap();
    let src = TestDb::create("dump_lambda_").await;
    let admin = drill_tests::connect(&drill_tests::pg_url()).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        format!("CREATE DATABASE \"{name}\""),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    let temp_url = drill_tests::with_database(&drill_tests::pg_url(), &name);
    psql(
        &temp_url,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 1000) i;",
    );
    let var = format!("DRILL_TEST_EXPORT_SECRET_{}", std::process::id());
    // Each nextest test runs in its own process: setting a variable here affects no other test.
    std::env::set_var(&var, drill_tests::pg_url());
    let (host, port) = {
        let c: tokio_postgres::Config = src.url.parse().unwrap();
        let host = match &c.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            other => panic!("{other:?}"),
        };
        (host, c.get_ports()[0])
    };
    // Every export is locked (COMPLIANCE, the configured days): the bucket has Object Lock.
    let bucket = create_bucket(true).await;
    let server = serde_json::json!({"host": host, "port": port, "database": "postgres",
                                    "secret": {"env": {"var": var}}, "tls": "disable"});
    drill_tests::deployment::edit(|d| d["backups_url"] = format!("s3://{bucket}").into());
    drill_tests::deployment::configure_source(
        "prod-app",
        serde_json::json!({"kind": "backup-set", "store": format!("s3://{bucket}/prod"), "server": server}),
        None,
        None,
    );
    let cfg = drill_tests::aws_config().await;
    let deps = export::Deps::new(
        export::Config {
            jobs: 2,
            chunk_mb: 64,
            pg_dump: None,
            allow_plaintext: true,
            pg_override: None,
            config_url: Some(drill_tests::deployment::url()),
            planner: Default::default(),
        },
        cfg,
    );
    let event = serde_json::json!({
        "drill": drill,
        "source": {"host": host, "port": port, "database": name, "secret": {"env": {"var": var}}, "tls": "disable"},
    });
    let out = export::handle(&deps, event).await.expect("export handler");
    let summary: drill_core::events::ExportSummary = serde_json::from_value(out.clone()).unwrap();
    assert_eq!((summary.tables, summary.rows), (1, 1000));
    assert!(
        summary
            .backup_set
            .starts_with(&format!("s3://{bucket}/prod-app/prod-app/")),
        "{}",
        summary.backup_set
    );
    assert_eq!(summary.manifest_sha256.len(), 64);
    // The manifest in the store is the one the summary names.
    let set = s3_store(&summary.backup_set).await;
    let body = set.get(manifest::MANIFEST_KEY).await.unwrap();
    assert_eq!(
        drill_engine::dump::sha256_hex(&body),
        summary.manifest_sha256
    );

    // A bad event is InvalidInput, never retried.
    let err = export::handle(&deps, serde_json::json!({"destination": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput");
    assert!(
        !out.to_string().contains(&temp_url),
        "no credentials in the summary"
    );
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_retention_is_on_every_object_including_multipart_ones() {
    let src = TestDb::create("dump_lock_").await;
    // ~10 MiB of incompressible data: its object needs a multipart upload (8 MiB parts).
    psql(
        &src.url,
        "CREATE TABLE blobs (id int PRIMARY KEY, b bytea); \
         INSERT INTO blobs SELECT g, decode(string_agg(md5(g::text || i::text), ''), 'hex') \
         FROM generate_series(1, 4) g, generate_series(1, 170000) i GROUP BY g;",
    );
    let bucket = create_bucket(true).await;
    let store = s3_store(&format!("s3://{bucket}/locked")).await;
    let options = ExportOptions {
        retention: Some(drill_engine::store::Retention::for_days("COMPLIANCE", 7).unwrap()),
        ..ExportOptions::default()
    };
    let (out, _restored) = round_trip(&src, &store, &options).await;
    let blob = &out.manifest.tables[0].objects[0];
    assert!(
        blob.compressed_bytes > 8 * 1024 * 1024,
        "{} bytes: not multipart",
        blob.compressed_bytes
    );
    let cfg = drill_tests::aws_config().await;
    let s3 = drill_tests::s3(&cfg);
    let prefix = out
        .set_url
        .strip_prefix(&format!("s3://{bucket}/"))
        .unwrap();
    let mut keys: Vec<String> = out.manifest.objects().map(|o| o.key.clone()).collect();
    keys.push(manifest::MANIFEST_KEY.into());
    let soon = chrono::Utc::now() + chrono::Duration::days(6);
    for key in keys {
        let head = s3
            .head_object()
            .bucket(&bucket)
            .key(format!("{prefix}{key}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {key}: {e:?}"));
        assert_eq!(
            head.object_lock_mode().map(|m| m.as_str()),
            Some("COMPLIANCE"),
            "{key} has no COMPLIANCE retention"
        );
        let until = head.object_lock_retain_until_date().expect("retain-until");
        assert!(
            until.secs() > soon.timestamp(),
            "{key} retained only until {until}"
        );
    }
}

/// `pg_dump --schema-only` without ownership and privileges, for comparing a `--no-owner` restore.
fn schema_without_owners(url: &str) -> String {
    schema_dump_with(url, &["--no-owner", "--no-privileges"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_server_without_the_source_roles_needs_no_owner() {
    use drill_engine::dump::Database;
    use drill_engine::dump::{self, RestoreOptions};
    // The source's objects belong to an application role and are granted to a reader role;
    // the restore runs as a plain user that may not act as either (a scratch server's admin).
    let (owner, reader, restorer) = (
        drill_tests::unique("app_owner_"),
        drill_tests::unique("app_reader_"),
        drill_tests::unique("restorer_"),
    );
    psql(
        &drill_tests::pg_url(),
        &format!(
            "CREATE ROLE {owner}; CREATE ROLE {reader}; \
             CREATE ROLE {restorer} LOGIN PASSWORD 'restorer-pw' NOSUPERUSER NOCREATEROLE;"
        ),
    );
    let src = TestDb::create("dump_owned_").await;
    psql(
        &src.url,
        &format!(
            "CREATE SCHEMA app AUTHORIZATION {owner};
             CREATE TYPE app.mood AS ENUM ('ok', 'meh'); ALTER TYPE app.mood OWNER TO {owner};
             CREATE TABLE app.t (id int PRIMARY KEY, mood app.mood, note text);
             ALTER TABLE app.t OWNER TO {owner};
             CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT count(*)::int FROM app.t $$;
             ALTER FUNCTION app.f() OWNER TO {owner};
             GRANT USAGE ON SCHEMA app TO {reader}; GRANT SELECT ON app.t TO {reader};
             ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA app GRANT SELECT ON TABLES TO {reader};
             INSERT INTO app.t SELECT g, 'ok', 'row ' || g FROM generate_series(1, 500) g;"
        ),
    );
    let (_dir, store) = file_store();
    let db = Database::from_url(&src.url).unwrap();
    let out = dump::export(&db, &store, &ExportOptions::default())
        .await
        .expect("export");
    let set = drill_engine::store::Store::open(&out.set_url, None).unwrap();

    let target = TestDb::create("dump_noowner_").await;
    psql(
        &drill_tests::pg_url(),
        &format!("ALTER DATABASE \"{}\" OWNER TO {restorer}", target.name),
    );
    let at = target.url.find('@').unwrap();
    let as_restorer = format!("postgres://{restorer}:restorer-pw{}", &target.url[at..]);
    let target_db = Database::from_url(&as_restorer).unwrap();

    // Without --no-owner: refused, saying what to do, and nothing half-created.
    let err = dump::restore(&set, &target_db, &RestoreOptions::default())
        .await
        .expect_err("ownership needs the source's roles");
    let msg = err.to_string();
    assert!(
        msg.contains("--no-owner") && msg.contains("pre-data"),
        "{msg}"
    );
    // With it: restored, owned by the restoring user, same schema and data otherwise.
    let restored = dump::restore(
        &set,
        &target_db,
        &RestoreOptions {
            no_owner: true,
            ..RestoreOptions::default()
        },
    )
    .await
    .expect("restore without ownership into the same, still empty database");
    assert_eq!(restored.rows, 500);
    assert_eq!(
        schema_without_owners(&src.url),
        schema_without_owners(&target.url)
    );
    // The rows are the same; only the owner named in pg_dump's comments differs.
    let same_rows = data_dump(&src.url).replace(&owner, &restorer) == data_dump(&target.url);
    assert!(same_rows, "restored rows differ");
    let client = drill_tests::connect(&target.url).await;
    let row = client
        .query_one(
            "SELECT tableowner::text, has_table_privilege($1, 'app.t', 'SELECT') FROM pg_tables \
             WHERE schemaname = 'app' AND tablename = 't'",
            &[&reader],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), restorer);
    assert!(!row.get::<_, bool>(1), "privileges were left out");
    // The roles are cluster-wide: drop them once the databases that use them are gone.
    drop(client);
    drop((src, target));
    psql(
        &drill_tests::pg_url(),
        &format!("DROP ROLE {reader}; DROP ROLE {restorer}; DROP ROLE {owner};"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_pg_dump_is_refused_before_any_data_naming_both_majors() {
    use drill_core::Classified;
    let newest = drill_tests::newest_server();
    let src = TestDb::create_on(&newest.url, "dump_old_client_").await;
    psql(
        &src.url,
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
    );
    let old = drill_tests::packaged_server().program("pg_dump");
    let (dir, store) = file_store();
    let err = drill_engine::dump::export(
        &drill_engine::dump::Database::from_url(&src.url).unwrap(),
        &store,
        &ExportOptions {
            pg_dump: Some(old.clone()),
            ..ExportOptions::default()
        },
    )
    .await
    .expect_err("an older pg_dump cannot dump a newer server");
    assert_eq!(err.kind(), drill_core::ErrorKind::CouldNotRun);
    let msg = err.to_string();
    let client_major = drill_core::pgversion::pg_dump_major(&String::from_utf8_lossy(
        &std::process::Command::new(&old)
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    ))
    .unwrap();
    for part in [
        format!("pg_dump {client_major}"),
        old.display().to_string(),
        "PostgreSQL 18".to_owned(),
        "scripts/pg-binaries".to_owned(),
    ] {
        assert!(msg.contains(&part), "{part:?} not in: {msg}");
    }
    // Refused before anything was written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
