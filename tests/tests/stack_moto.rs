//! Each local fix in tests/stack/moto_server.py for Lambda, Step Functions, S3 and IAM, proven against
//! the running moto (the RDS fixes: stack_moto_rds.rs).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use drill_engine::lambda::HandlerError;
use drill_tests::lambda_host::{serve, Invoke};
use drill_tests::{aws_config, lambda_role, unique, wait};
use serde_json::{json, Value};

/// A handler served by the test itself: answers who it is, or fails with a chosen error kind.
struct TestHandler;

impl Invoke for TestHandler {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, HandlerError> {
        if let Some(kind) = payload.get("fail_as").and_then(Value::as_str) {
            let kind = drill_core::ErrorKind::ALL
                .into_iter()
                .find(|k| k.error_type() == kind)
                .expect("known error type");
            return Err(HandlerError::new(kind, "failing on purpose"));
        }
        Ok(json!({"served_by": "test-handler", "function": function_name, "input": payload}))
    }
}

async fn start_test_handler() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, Arc::new(TestHandler)));
    url
}

async fn create_function(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    forward_to: Option<&str>,
) -> String {
    let role = lambda_role(&aws_config().await).await;
    let mut req = lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(Blob::new(drill_tests::empty_zip()))
                .build(),
        );
    if let Some(url) = forward_to {
        req = req.tags("drill:local-invoke-url", url);
    }
    req.send().await.unwrap().function_arn().unwrap().to_owned()
}

/// A state machine named `prefix…` running as the test Lambda role; its ARN.
async fn create_machine(
    sfn: &aws_sdk_sfn::Client,
    config: &aws_config::SdkConfig,
    prefix: &str,
    definition: impl Into<String>,
) -> String {
    sfn.create_state_machine()
        .name(unique(prefix))
        .role_arn(lambda_role(config).await)
        .definition(definition)
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned()
}

async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    payload: Value,
) -> (Option<String>, Value) {
    let out = lambda
        .invoke()
        .function_name(name)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    (out.function_error().map(str::to_owned), body)
}

#[tokio::test]
async fn lambda_invoke_is_forwarded_to_our_handler_not_echoed() {
    let config = aws_config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let url = start_test_handler().await;
    let name = unique("fwd-");
    create_function(&lambda, &name, Some(&url)).await;

    let (err, body) = invoke(&lambda, &name, json!({"hello": "drill"})).await;
    assert_eq!(err, None);
    assert_eq!(
        body["served_by"], "test-handler",
        "moto echoed instead of forwarding: {body}"
    );
    assert_eq!(body["function"], name.as_str());
    assert_eq!(body["input"], json!({"hello": "drill"}));

    // Function errors come back the way Lambda reports them, with our error_type.
    let (err, body) = invoke(&lambda, &name, json!({"fail_as": "Drill.GuardViolation"})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Drill.GuardViolation");
}

#[tokio::test]
async fn untagged_functions_reach_the_real_handlers_in_lambda_host() {
    let config = aws_config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let name = unique("drill-") + "-validate";
    create_function(&lambda, &name, None).await;
    // An event that breaks the validate contract: only our real handler answers InvalidInput
    // naming the field; moto's echo would return the input unchanged.
    let (err, body) = invoke(&lambda, &name, json!({"not_a_field": 1})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"), "{body}");
    assert_eq!(body["errorType"], "Drill.InvalidInput", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not_a_field"),
        "{body}"
    );
}

#[tokio::test]
async fn step_functions_validate_and_list_versions_answer_for_terraform() {
    let config = aws_config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let ok = sfn
        .validate_state_machine_definition()
        .definition(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#)
        .send()
        .await
        .expect("ValidateStateMachineDefinition must be answered (terraform plan calls it)");
    assert_eq!(ok.result().as_str(), "OK");
    let bad = sfn
        .validate_state_machine_definition()
        .definition("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.result().as_str(), "FAIL");

    let arn = create_machine(
        &sfn,
        &config,
        "sm-",
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
    )
    .await;
    let versions = sfn
        .list_state_machine_versions()
        .state_machine_arn(&arn)
        .send()
        .await
        .expect("ListStateMachineVersions must be answered (terraform apply calls it)");
    assert!(versions.state_machine_versions().is_empty());
}

#[tokio::test]
async fn state_machine_runs_our_handler_and_catches_its_error_type_by_name() {
    let config = aws_config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let sfn = aws_sdk_sfn::Client::new(&config);
    let url = start_test_handler().await;
    let fn_arn = create_function(&lambda, &unique("sm-fn-"), Some(&url)).await;
    let definition = json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": fn_arn,
                "Retry": [{"ErrorEquals": ["Drill.Transient"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["Drill.GuardViolation"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }
    });
    let sm = create_machine(&sfn, &config, "sm-", definition.to_string()).await;

    let run = |input: Value| {
        let sfn = sfn.clone();
        let sm = sm.clone();
        async move {
            let exec = sfn
                .start_execution()
                .state_machine_arn(&sm)
                .input(input.to_string())
                .send()
                .await
                .unwrap()
                .execution_arn()
                .to_owned();
            let d = wait::execution_end(&sfn, &exec, Duration::from_secs(30)).await;
            let out: Value = d
                .output()
                .map(|o| serde_json::from_str(o).unwrap())
                .unwrap_or(Value::Null);
            (d.status().as_str().to_owned(), out)
        }
    };

    let (status, out) = run(json!({"night": 1})).await;
    assert_eq!(status, "SUCCEEDED", "{out}");
    assert_eq!(out["served_by"], "test-handler", "{out}");
    assert_eq!(out["input"], json!({"night": 1}));

    let (status, out) = run(json!({"fail_as": "Drill.GuardViolation"})).await;
    assert_eq!(
        status, "SUCCEEDED",
        "the Catch must route the named error: {out}"
    );
    assert_eq!(out["error"]["Error"], "Drill.GuardViolation", "{out}");

    let (status, _) = run(json!({"fail_as": "Drill.BackupInvalid"})).await;
    assert_eq!(
        status, "FAILED",
        "an uncaught error type must fail the execution"
    );
}

#[tokio::test]
async fn s3_tls_only_bucket_policy_does_not_lock_everything_out_but_deny_still_denies() {
    let config = aws_config().await;
    let s3 = drill_tests::s3(&config);
    let bucket = unique("pol-");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("a")
        .body(bytes::Bytes::from_static(b"x").into())
        .send()
        .await
        .unwrap();
    let policy = |statement: Value| json!({"Version": "2012-10-17", "Statement": [statement]});
    let tls_only = policy(json!({
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    }));
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(tls_only.to_string())
        .send()
        .await
        .unwrap();
    s3.head_object()
        .bucket(&bucket)
        .key("a")
        .send()
        .await
        .expect("a conditional Deny must not deny everything");

    let deny_all = policy(json!({
        "Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{bucket}/*")
    }));
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(deny_all.to_string())
        .send()
        .await
        .unwrap();
    let err = s3.get_object().bucket(&bucket).key("a").send().await;
    assert!(err.is_err(), "an unconditional Deny must still deny");
}

#[tokio::test]
async fn a_multipart_upload_keeps_the_object_lock_of_its_create_request() {
    // As S3 does: the retention named in CreateMultipartUpload is on the completed object, with
    // no PutObjectRetention afterwards (moto fix `fix_s3_multipart_object_lock`).
    let cfg = aws_config().await;
    let s3 = drill_tests::s3(&cfg);
    let bucket = unique("lock-mpu-");
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let until = aws_smithy_types::DateTime::from_secs(chrono::Utc::now().timestamp() + 3 * 86_400);
    let up = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let part = s3
        .upload_part()
        .bucket(&bucket)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .body(bytes::Bytes::from_static(b"backup").into())
        .send()
        .await
        .unwrap();
    // moto answers with another XML root than the SDK expects (see store.rs); the object is
    // complete either way, which is what this test looks at.
    let _ = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .upload_id(&id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .set_checksum_sha256(part.checksum_sha256().map(str::to_owned))
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    assert_eq!(
        head.object_lock_retain_until_date().map(|d| d.secs()),
        Some(until.secs())
    );
}

/// fix_stepfunctions_map_run_children: a Distributed Map's iterations are child executions, each
/// with its own history, listed by their Map Run (every page); the parent's history has none of
/// their states.
#[tokio::test]
async fn a_distributed_maps_iterations_are_child_executions_listed_by_their_map_run() {
    use drill_engine::sfn::{Executions, SfnExecutions};
    use drill_engine::sfn_follow::Follow;

    let config = aws_config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let definition = json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Restore",
                    "States": {"Restore": {"Type": "Pass", "End": true}}
                },
                "End": true
            }
        }
    });
    let sm = create_machine(&sfn, &config, "sm-map-", definition.to_string()).await;
    let items: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|s| json!({"drill": {"source_id": s}}))
        .collect();
    let exec = sfn
        .start_execution()
        .state_machine_arn(&sm)
        .input(json!({ "items": items }).to_string())
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_owned();
    let d = wait::execution_end(&sfn, &exec, Duration::from_secs(30)).await;
    assert_eq!(d.status().as_str(), "SUCCEEDED", "{:?}", d.cause());

    let ours = SfnExecutions {
        client: sfn.clone(),
    };
    let runs = ours.map_runs(&exec).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].contains(":mapRun:"), "{}", runs[0]);
    // Two a page: the third child is on the second page.
    let children = ours.map_run_executions_paged(&runs[0], 2).await.unwrap();
    assert_eq!(children.len(), 3, "{children:?}");
    let mut seen = Vec::new();
    for c in &children {
        assert_eq!(c.status, "SUCCEEDED", "{c:?}");
        assert!(c.arn.contains(":execution:"), "{}", c.arn);
        for e in ours.history(&c.arn).await.unwrap() {
            if let drill_core::operate::EventKind::Entered { state, input } = e.kind {
                assert_eq!(state, "Restore");
                let v: Value = serde_json::from_str(&input).unwrap();
                seen.push(v["drill"]["source_id"].as_str().unwrap().to_owned());
            }
        }
    }
    seen.sort();
    assert_eq!(seen, ["a", "b", "c"]);
    // The parent's own history has none of the iterations' states; followed, it has all three.
    let entered = |events: &[drill_core::operate::HistoryEvent]| {
        events
            .iter()
            .filter(|e| matches!(&e.kind, drill_core::operate::EventKind::Entered { state, .. } if state == "Restore"))
            .count()
    };
    assert_eq!(entered(&ours.history(&exec).await.unwrap()), 0);
    let followed = Follow::default().history(&ours, &exec).await.unwrap();
    assert_eq!(entered(&followed), 3);

    // AWS takes a mapRunArn or a stateMachineArn, not both.
    let both = sfn
        .list_executions()
        .map_run_arn(&runs[0])
        .state_machine_arn(&sm)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sfn::error::ProvideErrorMetadata::code(&both),
        Some("ValidationException"),
        "{both:?}"
    );
}

/// A policy document of at least `n` characters, white space not counted (IAM's measure).
fn policy_of(n: usize) -> String {
    let doc = |arns: &[String]| {
        format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":[{}]}}]}}",
            arns.join(", ")
        )
    };
    let mut arns = Vec::new();
    while doc(&arns).chars().filter(|c| !c.is_whitespace()).count() < n {
        arns.push(format!(
            "\"arn:aws:s3:::restore-drill-quota-test-bucket-{:06}/*\"",
            arns.len()
        ));
    }
    doc(&arns)
}

#[tokio::test]
async fn iam_refuses_policies_over_its_size_quotas_as_aws_does() {
    use aws_sdk_iam::error::ProvideErrorMetadata;
    let iam = aws_sdk_iam::Client::new(&aws_config().await);
    let role = unique("quota-");
    iam.create_role()
        .role_name(&role)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    // Inline policies count together: 6,000 + 6,000 > 10,240 (white space not counted, so
    // pretty-printing does not help).
    let put = |name: &str, doc: String| {
        iam.put_role_policy()
            .role_name(&role)
            .policy_name(name)
            .policy_document(doc)
            .send()
    };
    put("a", policy_of(6_000)).await.unwrap();
    let err = put("b", policy_of(6_000)).await.unwrap_err();
    assert_eq!(err.code(), Some("LimitExceeded"), "{err:?}");
    assert!(format!("{err:?}").contains("10240"), "{err:?}");
    put("b", policy_of(4_000)).await.unwrap();
    // Replacing a policy counts its new size, not both.
    put("a", policy_of(6_000)).await.unwrap();
    // A managed policy: 6,144 characters at most.
    let err = iam
        .create_policy()
        .policy_name(unique("big-"))
        .policy_document(policy_of(6_300))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("LimitExceeded"), "{err:?}");
    // At most 10 managed policies a role.
    for i in 0..11 {
        let arn = iam
            .create_policy()
            .policy_name(format!("{role}-{i}"))
            .policy_document(policy_of(200))
            .send()
            .await
            .unwrap()
            .policy()
            .and_then(|p| p.arn())
            .unwrap()
            .to_owned();
        let attached = iam
            .attach_role_policy()
            .role_name(&role)
            .policy_arn(&arn)
            .send()
            .await;
        if i < 10 {
            attached.unwrap();
        } else {
            let err = attached.unwrap_err();
            assert_eq!(err.code(), Some("LimitExceeded"), "{err:?}");
        }
    }
}
