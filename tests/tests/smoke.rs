//! Smoke tests: each real part of the local stack answers the way the project relies on.

use drill_tests::{aws_config, connect, pg_url, s3, unique, TestDb};

#[tokio::test]
async fn postgres_round_trip_on_the_throwaway_cluster() {
    let db = TestDb::create("smoke_").await;
    let client = connect(&db.url).await;
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t VALUES (1, 'drill'), (2, NULL)")
        .await
        .unwrap();
    let rows = client
        .query("SELECT id, note FROM t ORDER BY id", &[])
        .await
        .unwrap();
    let got: Vec<(i32, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(1, Some("drill".into())), (2, None)]);
    // amcheck is needed by the validation engine: the server must have it.
    client
        .batch_execute("CREATE EXTENSION amcheck")
        .await
        .expect("amcheck extension available (postgresql-contrib)");
}

#[tokio::test]
async fn postgres_rejects_a_wrong_password() {
    // The shared cluster really authenticates over TCP (scram), so secret handling is exercised.
    let url = pg_url();
    let (head, tail) = url.split_once('@').unwrap();
    let (user, _) = head.rsplit_once(':').unwrap();
    let bad = format!("{user}:wrong@{tail}");
    let err = tokio_postgres::connect(&bad, tokio_postgres::NoTls)
        .await
        .err()
        .expect("a wrong password must be refused");
    let text = drill_engine::pg::error_text(&err);
    assert!(text.contains("password authentication failed"), "{text}");
}

#[tokio::test]
async fn s3_object_round_trip_against_moto() {
    let config = aws_config().await;
    let s3 = s3(&config);
    let bucket = unique("smoke-");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("a/b.txt")
        .body(bytes::Bytes::from_static(b"restore me").into())
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("a/b.txt")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&got[..], b"restore me");
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));
}

#[tokio::test]
async fn rds_create_instance_snapshot_and_describe_against_moto() {
    let config = aws_config().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let id = unique("smoke-db-");
    rds.create_db_instance()
        .db_instance_identifier(&id)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("not-a-real-secret")
        .send()
        .await
        .unwrap();
    let snap = format!("{id}-manual");
    rds.create_db_snapshot()
        .db_instance_identifier(&id)
        .db_snapshot_identifier(&snap)
        .send()
        .await
        .unwrap();
    let snaps = rds
        .describe_db_snapshots()
        .db_instance_identifier(&id)
        .send()
        .await
        .unwrap();
    let kinds: Vec<(String, String)> = snaps
        .db_snapshots()
        .iter()
        .map(|s| {
            (
                s.snapshot_type().unwrap_or_default().to_owned(),
                s.status().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("manual".into(), "available".into())),
        "{kinds:?}"
    );
    // moto makes one automated snapshot when the instance is created (see shared notes).
    assert!(kinds.iter().any(|(t, _)| t == "automated"), "{kinds:?}");
    let inst = rds
        .describe_db_instances()
        .db_instance_identifier(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(inst.db_instances()[0].engine(), Some("postgres"));
}

#[test]
fn terraform_fmt_init_from_the_mirror_and_validate() {
    use drill_tests::infra::{repo, terraform, terraform_ok, workdir};
    let (ok, out) = terraform(
        &repo().join("infra"),
        &["fmt", "-check", "-recursive", "-no-color"],
    );
    assert!(ok, "terraform fmt -check: files need formatting:\n{out}");

    let dir = workdir();
    for root in ["infra", "infra/bootstrap", "infra/examples/production-db"] {
        let root = dir.path().join(root);
        let out = terraform_ok(
            &root,
            &["init", "-backend=false", "-input=false", "-no-color"],
        );
        assert!(out.contains("hashicorp/aws"), "{out}");
        assert!(
            out.contains("5.100.0"),
            "provider must come from the mirror, pinned: {out}"
        );
        terraform_ok(&root, &["validate", "-no-color"]);
    }
}
