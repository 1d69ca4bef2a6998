//! The network path of the Lambdas, on the rendered plan: VPC endpoints unless the subnets have
//! NAT, and a plan that fails when a cross-region snapshot copy could never reach the other
//! region's RDS API. (That every service the roles grant has an endpoint is checked on the
//! applied stack in infra_apply.rs: the policies are unknown until apply.)

use std::process::Command;

use drill_tests::infra::{repo, terraform, terraform_ok, workdir, write_moto_provider_override};
use drill_tests::{aws_config, moto_url, unique};
use serde_json::{json, Value};

fn default_network() -> (String, Vec<String>) {
    let out = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("tests/stack/aws_fixture.py"))
        .arg("default-network")
        .env("DRILL_TEST_MOTO_URL", moto_url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let subnets = v["subnet_ids"].as_array().unwrap();
    (
        v["vpc_id"].as_str().unwrap().to_owned(),
        subnets
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect(),
    )
}

fn planned_addresses(plan: &Value, kind: &str) -> Vec<String> {
    plan["planned_values"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == kind)
        .map(|r| r["address"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn endpoints_unless_nat_and_cross_region_copies_need_a_path() {
    let rds = aws_sdk_rds::Client::new(&aws_config().await);
    let dir = workdir();
    let infra = dir.path().join("infra");
    let name = unique("rn-");
    let prod = format!("{name}-prod");
    rds.create_db_instance()
        .db_instance_identifier(&prod)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("not-a-real-secret")
        .send()
        .await
        .unwrap();
    write_moto_provider_override(&infra);
    // Plans only: local state instead of the S3 backend.
    std::fs::write(
        infra.join("backend_override.tf"),
        "terraform {\n  backend \"local\" {}\n}\n",
    )
    .unwrap();
    let zips = dir.path().join("lambda");
    std::fs::create_dir_all(&zips).unwrap();
    for f in ["restore", "validate", "export", "delete-temp"] {
        std::fs::write(zips.join(format!("{f}.zip")), drill_tests::empty_zip()).unwrap();
    }
    let (vpc, subnets) = default_network();
    let vars = |extra: Value| {
        let mut v = json!({
            "name": name,
            "vpc_id": vpc,
            "subnet_ids": subnets,
            "lambda_zip_dir": zips,
            "sources": [{"id": "prod-app", "kind": "rds-snapshot", "instance_identifier": prod,
                         "database": "app", "snapshot_copy": {"region": "eu-west-1"}}],
            // The deployment's allowlist (trust boundary): the copy region must be in it.
            "snapshot_copy_regions": ["eu-west-1"],
        });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        std::fs::write(infra.join("test.auto.tfvars.json"), v.to_string()).unwrap();
    };
    terraform_ok(&infra, &["init", "-input=false", "-no-color"]);

    // A copy to another region with neither NAT nor a reachable RDS API there: the plan fails,
    // saying which region and what would fix it.
    vars(json!({}));
    let (ok, out) = terraform(&infra, &["plan", "-input=false", "-no-color"]);
    assert!(!ok, "plan must fail: {out}");
    assert!(
        out.contains("eu-west-1")
            && out.contains("subnets_have_nat")
            && out.contains("rds_reachable_regions"),
        "{out}"
    );

    // Subnets with NAT: the plan passes and creates no endpoints.
    vars(json!({"subnets_have_nat": true}));
    terraform_ok(
        &infra,
        &["plan", "-input=false", "-no-color", "-out=nat.plan"],
    );
    let plan: Value = serde_json::from_str(&terraform_ok(
        &infra,
        &["show", "-json", "-no-color", "nat.plan"],
    ))
    .unwrap();
    assert_eq!(
        planned_addresses(&plan, "aws_vpc_endpoint"),
        Vec::<String>::new()
    );

    // Without NAT: the S3 gateway and one interface endpoint per API service, behind their own
    // security group.
    vars(json!({"rds_reachable_regions": ["eu-west-1"]}));
    terraform_ok(
        &infra,
        &["plan", "-input=false", "-no-color", "-out=private.plan"],
    );
    let plan: Value = serde_json::from_str(&terraform_ok(
        &infra,
        &["show", "-json", "-no-color", "private.plan"],
    ))
    .unwrap();
    let mut endpoints = planned_addresses(&plan, "aws_vpc_endpoint");
    endpoints.sort();
    assert_eq!(
        endpoints,
        [
            "aws_vpc_endpoint.interface[\"kms\"]",
            "aws_vpc_endpoint.interface[\"rds\"]",
            "aws_vpc_endpoint.interface[\"secretsmanager\"]",
            "aws_vpc_endpoint.interface[\"sns\"]",
            "aws_vpc_endpoint.interface[\"sts\"]",
            "aws_vpc_endpoint.interface[\"xray\"]",
            "aws_vpc_endpoint.s3[0]",
        ]
    );
    assert_eq!(
        planned_addresses(&plan, "aws_security_group"),
        [
            "aws_security_group.endpoints[0]",
            "aws_security_group.lambda",
            "aws_security_group.temp"
        ]
    );
}
