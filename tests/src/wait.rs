//! Waiting on a condition with a deadline, instead of sleeping a fixed time and hoping.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Polls `probe` every `every` until it returns `Some`, and returns that; panics naming `what`
/// when `timeout` has passed first.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not after {} s",
            timeout.as_secs_f64()
        );
        tokio::time::sleep(every).await;
    }
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Returns once the wall clock has entered a later second than when called: anything named by
/// the time from now on sorts after what was named before (backup set names carry the second).
pub fn next_second() {
    let start = unix_second();
    while unix_second() == start {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the clock (the one moto stamps resources with: same machine) is past `t`, so
/// that whatever is made next is strictly younger than `t`.
pub async fn clock_past(t: chrono::DateTime<chrono::Utc>) {
    until(
        &format!("the clock is past {t}"),
        Duration::from_secs(5),
        Duration::from_millis(5),
        || async { (chrono::Utc::now() > t).then_some(()) },
    )
    .await
}

/// Waits until the Step Functions execution `arn` is no longer RUNNING; returns its description.
pub async fn execution_end(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    timeout: Duration,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    until(
        "the execution to end",
        timeout,
        Duration::from_millis(100),
        || async move {
            let d = sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .unwrap();
            (d.status().as_str() != "RUNNING").then_some(d)
        },
    )
    .await
}
