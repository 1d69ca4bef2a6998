//! The local stack refuses RDS tags AWS refuses (moto fix `fix_rds_tag_characters`): a tag the
//! drill builds wrongly fails here, not on the first real night.

use aws_sdk_rds::types::Tag;
use drill_tests::rds::*;
use drill_tests::unique;

#[tokio::test]
async fn tags_aws_refuses_are_refused_and_valid_ones_kept() {
    let client = rds().await;
    let id = unique("tags-");
    create_instance(&client, &id, false, vec![]).await;
    let arn = client
        .describe_db_instances()
        .db_instance_identifier(&id)
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .db_instance_arn()
        .unwrap()
        .to_owned();
    let add = |key: &str, value: &str| {
        client
            .add_tags_to_resource()
            .resource_name(&arn)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
    };
    for (key, value) in [
        ("drill:moment", "random, seed 42 (window a..b)"),
        ("drill:restored-from", "rds:prod-2026-12-01-03-00"),
        ("aws:owner", "me"),
        ("drill:x", &"v".repeat(257)),
    ] {
        let err = add(key, value).await.expect_err(&format!("{key}={value}"));
        assert_eq!(
            aws_sdk_rds::error::ProvideErrorMetadata::code(&err),
            Some("InvalidParameterValue"),
            "{key}={value}: {err:?}"
        );
    }
    let fine = "random seed 42 at 2026-12-01T03:00:00.250Z window 2026-11-24T03:00:00Z/2026-12-01T02:55:00Z";
    add("drill:moment", fine).await.expect("a valid tag");
    add(
        "drill:restored-from",
        "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:prod-1",
    )
    .await
    .expect("an ARN");
    assert_eq!(instance_tags(&client, &id).await["drill:moment"], fine);
}
