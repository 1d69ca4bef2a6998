//! What every function's `main.rs` runs: JSON logs for CloudWatch, the dependencies built once,
//! then the runtime loop handing each event's payload to the function's handler.

use std::future::Future;

use lambda_runtime::{run, service_fn, LambdaEvent};
use serde_json::Value;

use super::HandlerError;

/// JSON logs for CloudWatch, level from `RUST_LOG` (default `info`), no ANSI colours.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time() // CloudWatch stamps every line already
        .with_current_span(false)
        .try_init();
}

/// Serves `handler` with the dependencies `deps` builds (once per cold start; a failure there
/// fails the cold start, logged). The dependencies live as long as the process, so every
/// invocation borrows the same ones.
pub async fn serve<D, B, H, Fut>(deps: B, handler: H) -> Result<(), lambda_runtime::Error>
where
    D: 'static,
    B: Future<Output = Result<D, HandlerError>>,
    H: Fn(&'static D, Value) -> Fut,
    Fut: Future<Output = Result<Value, HandlerError>>,
{
    serve_until(deps, move |deps, payload, _deadline| handler(deps, payload)).await
}

/// [`serve`] for a handler that needs the invocation's deadline (`Context.deadline`, milliseconds
/// since the epoch): validation bounds every statement by it.
pub async fn serve_until<D, B, H, Fut>(deps: B, handler: H) -> Result<(), lambda_runtime::Error>
where
    D: 'static,
    B: Future<Output = Result<D, HandlerError>>,
    H: Fn(&'static D, Value, u64) -> Fut,
    Fut: Future<Output = Result<Value, HandlerError>>,
{
    init_tracing();
    let deps: &'static D = Box::leak(Box::new(deps.await.inspect_err(|e| {
        tracing::error!(error_type = e.error_type(), error = %e.message, "cold start failed");
    })?));
    // Boxed: a handler's future is deep enough to overflow the compiler's layout recursion
    // limit once nested in the runtime's; on the heap, it is one allocation per invocation.
    run(service_fn(|event: LambdaEvent<Value>| {
        Box::pin(handler(deps, event.payload, event.context.deadline))
    }))
    .await
}
