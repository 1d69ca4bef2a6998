//! Helpers of the `rds_*` tests: instances and snapshots in moto, the drill's network, the
//! drill's tags (built by [`drill_core::guards::tag`], as the restore and copy write them),
//! waiting on a condition instead of sleeping, and handler dependencies aimed at moto.

use std::collections::BTreeMap;

use crate::{aws_config, moto_url, unique};
use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use chrono::{DateTime, Utc};
use drill_core::events::DrillContext;
use drill_core::guards::tag;
use drill_engine::rds::RdsSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn rds() -> Client {
    Client::new(&aws_config().await)
}

/// One query-protocol call to moto (the test kit has no EC2 or STS SDK) for `service`, as the
/// default account in us-east-1.
async fn query(service: &str, body: &str) -> String {
    query_as("testing", "us-east-1", service, body).await
}

/// One query-protocol call as the holder of `access_key` in `region` (moto takes the account from
/// the access key and the region from the credential scope; it checks no signature).
async fn query_as(access_key: &str, region: &str, service: &str, body: &str) -> String {
    let url = moto_url();
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(hostport)
        .await
        .expect("connect to moto");
    let request = format!(
        "POST / HTTP/1.0\r\nHost: {hostport}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={access_key}/20260101/{region}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn first_between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text
        .find(open)
        .unwrap_or_else(|| panic!("{open} in {text}"))
        + open.len();
    let end = text[start..].find(close).unwrap() + start;
    &text[start..end]
}

/// The drill's own subnet group (made from a subnet of moto's default VPC) and a security group.
pub struct Network {
    pub subnet_group: String,
    pub security_group: String,
}

pub async fn network(client: &Client) -> Network {
    network_as(client, "testing", "us-east-1").await
}

/// [`network`] in the account of `access_key` and in `region` (`client` must act the same).
pub async fn network_as(client: &Client, access_key: &str, region: &str) -> Network {
    let ec2 = |body: &'static str| query_as(access_key, region, "ec2", body);
    let subnets = ec2("Action=DescribeSubnets&Version=2016-11-15").await;
    let subnet = first_between(&subnets, "<subnetId>", "</subnetId>").to_owned();
    let groups = ec2("Action=DescribeSecurityGroups&Version=2016-11-15").await;
    let security_group = first_between(&groups, "<groupId>", "</groupId>").to_owned();
    let subnet_group = unique("drill-subnets-");
    client
        .create_db_subnet_group()
        .db_subnet_group_name(&subnet_group)
        .db_subnet_group_description("restore-drill temp instances")
        .subnet_ids(subnet)
        .send()
        .await
        .expect("create subnet group");
    Network {
        subnet_group,
        security_group,
    }
}

/// An RDS client acting as another AWS account in `region`: moto maps the credentials of an
/// assumed role to the role's account.
pub async fn client_of_account(account: &str, region: &str) -> Client {
    client_and_key_of_account(account, region).await.0
}

/// [`client_of_account`] and the access key it uses.
pub async fn client_and_key_of_account(account: &str, region: &str) -> (Client, String) {
    let role = format!("arn:aws:iam::{account}:role/drill-snapshot-copies");
    let response = query(
        "sts",
        &format!("Action=AssumeRole&Version=2011-06-15&RoleSessionName=drill-test&RoleArn={role}"),
    )
    .await;
    let access_key = first_between(&response, "<AccessKeyId>", "</AccessKeyId>").to_owned();
    let creds = aws_sdk_rds::config::Credentials::new(
        access_key.clone(),
        first_between(&response, "<SecretAccessKey>", "</SecretAccessKey>"),
        Some(first_between(&response, "<SessionToken>", "</SessionToken>").to_owned()),
        None,
        "moto-sts",
    );
    let conf = aws_sdk_rds::config::Builder::from(&aws_config().await)
        .credentials_provider(creds)
        .region(aws_sdk_rds::config::Region::new(region.to_owned()))
        .build();
    (Client::from_conf(conf), access_key)
}

pub fn settings(net: Option<&Network>) -> RdsSettings {
    RdsSettings {
        subnet_group: net.map(|n| n.subnet_group.clone()),
        security_groups: net
            .map(|n| vec![n.security_group.clone()])
            .unwrap_or_default(),
        instance_classes: vec!["db.t4g.small".into()],
        ..RdsSettings::default()
    }
}

/// A new KMS key in moto (the test kit has no KMS SDK crate); its ARN.
pub fn create_kms_key() -> String {
    let out = std::process::Command::new(crate::infra::repo().join(".venv/bin/python"))
        .arg(crate::infra::repo().join("tests/stack/aws_fixture.py"))
        .arg("create-key")
        .env("DRILL_TEST_MOTO_URL", moto_url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["arn"].as_str().unwrap().to_owned()
}

pub fn drill(source: &str, started_at: DateTime<Utc>) -> DrillContext {
    DrillContext {
        drill_id: unique("exec-"),
        source_id: source.to_owned(),
        started_at,
    }
}

pub fn t(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// Creates a PostgreSQL instance (moto makes one automated snapshot of it at once). RDS manages
/// the master password, so no password appears in the tests.
pub async fn create_instance(client: &Client, id: &str, deletion_protection: bool, tags: Vec<Tag>) {
    client
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("drill_admin")
        .manage_master_user_password(true)
        .allocated_storage(20)
        .backup_retention_period(7)
        .deletion_protection(deletion_protection)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {id}: {e:?}"));
}

/// Tags as RDS takes them.
pub fn aws_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| t(k, v)).collect()
}

/// The full tag set of a drill temp of `drill`, as the restore writes it
/// ([`drill_core::guards::tag::temp_tags`]; `drill:expires-at` in whole seconds).
pub fn temp_tags(drill: &DrillContext, expires_at: DateTime<Utc>) -> Vec<Tag> {
    aws_tags(&tag::temp_tags(
        &drill.drill_id,
        &drill.source_id,
        expires_at,
        "arn:aws:rds:us-east-1:123456789012:snapshot:rds:some-snapshot",
    ))
}

pub use crate::wait::clock_past;

/// `InstanceCreateTime` of an instance, as moto reports it.
pub async fn instance_created_at(client: &Client, id: &str) -> DateTime<Utc> {
    let db = drill_engine::rds::describe_instance(client, id)
        .await
        .unwrap()
        .expect("instance exists");
    drill_engine::rds::instance_facts(&db)
        .created_at
        .expect("moto reports the creation time")
}

/// `SnapshotCreateTime` of a snapshot of `instance`, as moto reports it.
pub async fn snapshot_created_at(client: &Client, instance: &str, id: &str) -> DateTime<Utc> {
    drill_engine::rds::list_snapshots(client, instance, None)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .and_then(|s| s.created_at)
        .unwrap_or_else(|| panic!("snapshot {id} of {instance} with a creation time"))
}

/// Whether moto still lists the instance (a deleted instance disappears at once in moto).
pub async fn exists(client: &Client, id: &str) -> bool {
    drill_engine::rds::describe_instance(client, id)
        .await
        .unwrap()
        .is_some_and(|db| db.db_instance_status() != Some("deleting"))
}

pub async fn instance_tags(client: &Client, id: &str) -> BTreeMap<String, String> {
    let db = drill_engine::rds::describe_instance(client, id)
        .await
        .unwrap()
        .expect("instance exists");
    drill_engine::rds::instance_facts(&db).tags
}

pub async fn snapshot_ids(client: &Client, instance: &str) -> Vec<String> {
    drill_engine::rds::list_snapshots(client, instance, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

pub fn restore_deps(settings: RdsSettings, aws: aws_config::SdkConfig) -> restore::Deps {
    restore::Deps::new(
        restore::Config {
            rds: settings,
            allow_plaintext: true,
            config_url: Some(crate::deployment::url()),
        },
        aws,
    )
}

pub fn delete_deps(settings: RdsSettings, aws: aws_config::SdkConfig) -> delete_temp::Deps {
    delete_temp::Deps::new(
        delete_temp::Config {
            rds: settings,
            allow_plaintext: true,
            config_url: Some(crate::deployment::url()),
        },
        aws,
    )
}

/// The newest `SnapshotCreateTime` or `OriginalSnapshotCreateTime` among the snapshots of
/// `instance` (the epoch when it has none).
pub async fn newest_snapshot_time(client: &Client, instance: &str) -> DateTime<Utc> {
    drill_engine::rds::list_snapshots(client, instance, None)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|s| [s.created_at, s.taken_at])
        .flatten()
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// A drill-style copy of `from` made by hand by an earlier execution, with the tags a drill
/// copy gets ([`drill_core::guards::tag::snapshot_copy_tags`]) and the given expiry.
pub async fn hand_copy(
    client: &Client,
    from: &str,
    id: &str,
    source: &str,
    expires_at: DateTime<Utc>,
) {
    client
        .copy_db_snapshot()
        .source_db_snapshot_identifier(from)
        .target_db_snapshot_identifier(id)
        .set_tags(Some(aws_tags(&tag::snapshot_copy_tags(
            "exec-earlier",
            source,
            expires_at,
            // A hand copy names its source as the drill's copies do: by ARN (not `rds:`).
            &format!("arn:aws:rds:us-east-1:123456789012:snapshot:{from}"),
        ))))
        .send()
        .await
        .unwrap();
}

/// The copy `id` of `source` as `client`'s region lists it, checked to carry every drill tag.
pub async fn drill_copy(
    client: &Client,
    source: &str,
    id: &str,
    drill: &DrillContext,
) -> drill_core::snapshots::SnapshotFacts {
    let made = drill_engine::rds::list_snapshots(client, source, Some("manual"))
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("copy {id} not listed"));
    assert_copy_tags(&made, source, drill);
    made
}

/// `made` carries every tag of a drill copy of `source` made by `drill`.
pub fn assert_copy_tags(
    made: &drill_core::snapshots::SnapshotFacts,
    source: &str,
    drill: &DrillContext,
) {
    assert_eq!(
        made.tags.get(tag::ROLE).map(String::as_str),
        Some(tag::ROLE_SNAPSHOT_COPY)
    );
    assert_eq!(made.tags.get(tag::EXECUTION), Some(&drill.drill_id));
    assert_eq!(made.tags.get(tag::SOURCE).map(String::as_str), Some(source));
    assert!(made.tags.contains_key(tag::EXPIRES_AT));
}
