//! The sandbox diff on the hard cases, on both majors of the stack (the packaged PostgreSQL and
//! the newest): composite keys ordered by bytes, a table without a primary key with duplicate
//! rows, NULL against '', json and point (no equality operator), a dropped and an added column,
//! a dropped and an added table, a moved sequence — and the base copy that the diff reads.

use drill_core::diff::{DiffPolicy, DiffReport, Matching, TableChange, TableDiff, Verdict};
use drill_engine::diff::{diff, make_base};
use drill_engine::pg::Database;
use drill_tests::TestDb;

const SCHEMA: &str = "
CREATE TABLE keyed (id int PRIMARY KEY, note text, doc json, pos point, n numeric);
INSERT INTO keyed SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'n' || i END,
       json_build_object('i', i), point(i, i), i / 7.0 FROM generate_series(1, 1000) i;
CREATE TABLE composite (tenant text, seq int, val text, PRIMARY KEY (tenant, seq));
INSERT INTO composite SELECT t, s, 'v' FROM unnest(ARRAY['Zed', 'alpha', 'Beta', 'ä', 'a b']) t,
       generate_series(1, 50) s;
CREATE TABLE nopk (a int, b text);
INSERT INTO nopk SELECT i % 5, 'x' FROM generate_series(1, 100) i;
CREATE TABLE widened (id bigint PRIMARY KEY, old_col text, keep int);
INSERT INTO widened SELECT i, 'o', i FROM generate_series(1, 20) i;
CREATE TABLE untouched (id int PRIMARY KEY, v text);
INSERT INTO untouched SELECT i, md5(i::text) FROM generate_series(1, 300) i;
CREATE TABLE doomed (id int PRIMARY KEY);
INSERT INTO doomed SELECT generate_series(1, 10);
CREATE TABLE \"Mixed Case\" (k uuid PRIMARY KEY, v text);
INSERT INTO \"Mixed Case\" SELECT md5(i::text)::uuid, 'v' FROM generate_series(1, 200) i;
CREATE SEQUENCE counter;
SELECT nextval('counter');
CREATE SCHEMA other;
CREATE TABLE other.keyed (id int PRIMARY KEY);
INSERT INTO other.keyed SELECT generate_series(1, 5);";

const CHANGE: &str = "
UPDATE keyed SET note = NULL WHERE id = 1;           -- 'n1' -> NULL
UPDATE keyed SET note = '' WHERE id = 3;             -- NULL -> ''
UPDATE keyed SET doc = '{\"i\": 2, \"x\": 1}' WHERE id = 2;
UPDATE keyed SET pos = point(0, 0) WHERE id = 4;
UPDATE keyed SET note = note WHERE id = 5;           -- a no-op update is no change
DELETE FROM keyed WHERE id = 10;
INSERT INTO keyed VALUES (1001, 'new', '{}', point(1, 1), 1);
DELETE FROM composite WHERE tenant = 'ä' AND seq <= 5;
UPDATE composite SET val = 'w' WHERE tenant = 'Beta' AND seq = 7;
INSERT INTO composite VALUES ('alpha', 51, 'v'), ('B', 1, 'v');
DELETE FROM nopk WHERE ctid = (SELECT ctid FROM nopk WHERE a = 1 LIMIT 1);
INSERT INTO nopk VALUES (9, 'y'), (9, 'y'), (2, 'x');
ALTER TABLE widened DROP COLUMN old_col;
ALTER TABLE widened ADD COLUMN flag boolean DEFAULT true;
DROP TABLE doomed;
CREATE TABLE fresh (id int);
INSERT INTO fresh VALUES (1), (2), (3);
UPDATE \"Mixed Case\" SET v = 'w' WHERE k = md5('7')::uuid;
SELECT nextval('counter'), nextval('counter');";

async fn exec(url: &str, sql: &str) {
    drill_tests::connect(url)
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

fn db(url: &str) -> Database {
    Database::from_url(url).unwrap()
}

fn table<'a>(r: &'a DiffReport, schema: &str, name: &str) -> &'a TableDiff {
    r.tables
        .iter()
        .find(|t| t.schema == schema && t.name == name)
        .unwrap_or_else(|| panic!("no table {schema}.{name} in {:#?}", r.tables))
}

fn counts(t: &TableDiff) -> (u64, u64, u64, u64, u64) {
    let r = &t.rows;
    (
        r.base_rows,
        r.sandbox_rows,
        r.inserted,
        r.deleted,
        r.updated,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_cases_are_counted_exactly_on_both_majors() {
    for server in drill_tests::servers() {
        let base = TestDb::create_on(&server.url, "diff_base_").await;
        exec(&base.url, SCHEMA).await;
        let sandbox = TestDb::copy_of(&base, "diff_sbx_").await;
        exec(&sandbox.url, CHANGE).await;
        let r = diff(&db(&base.url), &db(&sandbox.url), &DiffPolicy::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", server.label));
        let label = &server.label;

        let keyed = table(&r, "public", "keyed");
        assert_eq!(counts(keyed), (1000, 1000, 1, 1, 4), "{label}: {keyed:#?}");
        assert_eq!(
            keyed.matching,
            Some(Matching::PrimaryKey(vec!["id".into()]))
        );
        assert_eq!(keyed.rows.sample_updated, ["1", "2", "3", "4"], "{label}");
        assert_eq!(keyed.rows.sample_deleted, ["10"]);
        assert_eq!(keyed.rows.sample_inserted, ["1001"]);

        let comp = table(&r, "public", "composite");
        assert_eq!(counts(comp), (250, 247, 2, 5, 1), "{label}: {comp:#?}");
        assert_eq!(comp.rows.sample_updated, ["(Beta, 7)"]);
        // Byte order: "B" sorts before "Beta", "alpha" after every capital.
        assert_eq!(comp.rows.sample_inserted, ["(B, 1)", "(alpha, 51)"]);

        let nopk = table(&r, "public", "nopk");
        assert_eq!(nopk.matching, Some(Matching::RowHash));
        assert_eq!(counts(nopk), (100, 102, 3, 1, 0), "{label}: {nopk:#?}");

        let widened = table(&r, "public", "widened");
        assert_eq!(widened.columns_dropped, ["old_col"]);
        assert_eq!(widened.columns_added, ["flag"]);
        // Rows are compared over the columns both sides have: none looks updated.
        assert_eq!(counts(widened), (20, 20, 0, 0, 0), "{label}");

        let doomed = table(&r, "public", "doomed");
        assert_eq!(
            (doomed.change, doomed.rows.base_rows),
            (TableChange::Dropped, 10)
        );
        let fresh = table(&r, "public", "fresh");
        assert_eq!(
            (fresh.change, fresh.rows.sandbox_rows),
            (TableChange::Added, 3)
        );
        let mixed = table(&r, "public", "Mixed Case");
        assert_eq!(counts(mixed), (200, 200, 0, 0, 1), "{label}");
        for (s, n) in [("public", "untouched"), ("other", "keyed")] {
            assert_eq!(
                table(&r, s, n).change,
                TableChange::Unchanged,
                "{label} {s}.{n}"
            );
        }

        let counter = r.sequences.iter().find(|s| s.name == "counter").unwrap();
        assert_eq!(counter.change, TableChange::Changed);
        assert_eq!(
            (counter.base_value, counter.sandbox_value),
            (Some(1), Some(3))
        );

        assert_eq!(r.verdict, Verdict::Destructive, "{label}: {:?}", r.findings);
        for needle in [
            "table public.doomed dropped (10 rows)",
            "column public.widened.old_col dropped",
            "sequence public.counter moved 1 → 3",
        ] {
            assert!(
                r.findings.iter().any(|f| f == needle),
                "{label}: {needle:?} not in {:?}",
                r.findings
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_is_a_read_only_copy_and_a_clean_sandbox_diffs_as_no_change() {
    for server in drill_tests::servers() {
        let sandbox = TestDb::create_on(&server.url, "diff_made_").await;
        exec(&sandbox.url, SCHEMA).await;
        let admin = db(&server.url);
        let base_name = format!("{}-base", sandbox.name);
        make_base(&admin, &sandbox.name, &base_name, Some("it's a base"))
            .await
            .unwrap();
        let base_url = drill_tests::with_database(&server.url, &base_name);
        let outcome = async {
            let r = diff(&db(&base_url), &db(&sandbox.url), &DiffPolicy::default())
                .await
                .unwrap();
            assert_eq!(r.verdict, Verdict::NoChange, "{:?}", r.findings);
            assert_eq!(r.tables.len(), 8);
            assert_eq!(table(&r, "public", "keyed").rows.base_rows, 1000);

            let c = drill_tests::connect(&base_url).await;
            let err = c
                .batch_execute("INSERT INTO doomed VALUES (11)")
                .await
                .unwrap_err();
            assert_eq!(err.code().map(|c| c.code()), Some("25006"), "{err:?}");
            let row = c
                .query_one(
                    "SELECT has_database_privilege('public', current_database(), 'CONNECT'), \
                            shobj_description(d.oid, 'pg_database') \
                     FROM pg_database d WHERE datname = current_database()",
                    &[],
                )
                .await
                .unwrap();
            assert!(
                !row.get::<_, bool>(0),
                "PUBLIC must not connect to the base"
            );
            assert_eq!(row.get::<_, String>(1), "it's a base");

            // One small change: changes, not destructive.
            exec(&sandbox.url, "DELETE FROM untouched WHERE id <= 3").await;
            let r = diff(&db(&base_url), &db(&sandbox.url), &DiffPolicy::default())
                .await
                .unwrap();
            assert_eq!(r.verdict, Verdict::Changes, "{:?}", r.findings);
            assert_eq!(
                r.findings,
                ["table public.untouched: 0 inserted, 3 deleted, 0 updated"]
            );
            // A copy needs the sandbox to itself: a second base while a session is open fails
            // with a message saying so.
            let _open = drill_tests::connect(&sandbox.url).await;
            let err = make_base(&admin, &sandbox.name, &format!("{base_name}2"), None)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("close every session"), "{err}");
        }
        .await;
        drill_tests::connect(&server.url)
            .await
            .batch_execute(&format!("DROP DATABASE \"{base_name}\" WITH (FORCE)"))
            .await
            .unwrap();
        outcome
    }
}
