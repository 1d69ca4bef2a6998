//! The local fix `fix_rds_unique_resource_ids` in tests/stack/moto_server.py, proven against the
//! running moto: every DB instance has its own DbiResourceId, and a `dbi-resource-id` filter (how
//! the Terraform provider reads an instance back) finds exactly that instance.

use aws_sdk_rds::types::Filter;
use aws_sdk_rds::Client;
use drill_tests::{aws_config, unique};

async fn create(client: &Client, id: &str) -> String {
    drill_tests::rds::create_instance(client, id, false, vec![]).await;
    let found = client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .unwrap();
    found.db_instances()[0]
        .dbi_resource_id()
        .expect("a new instance has a resource id")
        .to_owned()
}

#[tokio::test]
async fn every_instance_has_its_own_resource_id_and_the_filter_finds_only_it() {
    let client = Client::new(&aws_config().await);
    let (a, b) = (unique("rid-a"), unique("rid-b"));
    let (rid_a, rid_b) = (create(&client, &a).await, create(&client, &b).await);
    assert_ne!(rid_a, rid_b, "two instances share a DbiResourceId");
    for rid in [&rid_a, &rid_b] {
        assert!(
            rid.len() == 29
                && rid.starts_with("db-")
                && rid[3..]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "{rid} is not in AWS's form"
        );
    }
    let found = client
        .describe_db_instances()
        .filters(
            Filter::builder()
                .name("dbi-resource-id")
                .values(&rid_b)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = found
        .db_instances()
        .iter()
        .filter_map(|d| d.db_instance_identifier())
        .collect();
    assert_eq!(ids, vec![b.as_str()]);
    // Stable for the instance's life: describing it again gives the same id.
    let again = client
        .describe_db_instances()
        .db_instance_identifier(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.db_instances()[0].dbi_resource_id(),
        Some(rid_a.as_str())
    );
    for id in [&a, &b] {
        client
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(true)
            .send()
            .await
            .unwrap();
    }
}
