//! The Lambda Invoke HTTP path in front of our handlers (used by `lambda-host` and by tests that
//! serve their own handler).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use drill_engine::lambda::{FromVars, HandlerError};

/// One in-process Lambda: name in, JSON in, JSON or error out.
pub trait Invoke: Send + Sync + 'static {
    fn invoke(
        &self,
        function_name: &str,
        payload: Value,
    ) -> impl std::future::Future<Output = Result<Value, HandlerError>> + Send;
}

/// Our four handlers (and the two sandbox functions made of them). Each invocation runs with the environment the function is configured with
/// in moto (what Terraform or a test set with `Environment.Variables`), so the handler sees the
/// same configuration it would in AWS; variables the function does not set fall back to this
/// process's environment.
pub struct Handlers {
    aws: aws_config::SdkConfig,
    lambda: aws_sdk_lambda::Client,
}

impl Handlers {
    pub async fn from_env() -> anyhow::Result<Self> {
        let aws = drill_engine::aws::load_config().await;
        Ok(Handlers {
            lambda: aws_sdk_lambda::Client::new(&aws),
            aws,
        })
    }

    /// With this SDK configuration (a test's own host: the test kit's moto configuration).
    pub fn with_config(aws: aws_config::SdkConfig) -> Self {
        Handlers {
            lambda: aws_sdk_lambda::Client::new(&aws),
            aws,
        }
    }

    async fn function_env(&self, function_name: &str) -> HashMap<String, String> {
        match self
            .lambda
            .get_function_configuration()
            .function_name(function_name)
            .send()
            .await
        {
            Ok(c) => c
                .environment()
                .and_then(|e| e.variables())
                .cloned()
                .unwrap_or_default(),
            Err(_) => HashMap::new(),
        }
    }
}

impl Handlers {
    /// The validate function `function_name` inside an invocation that ends at `deadline_ms`
    /// (milliseconds since the epoch, as Lambda's `Context.deadline`), with its configured
    /// environment: a test's own host uses it to make one invocation run out of time.
    pub async fn invoke_validate_until(
        &self,
        function_name: &str,
        payload: Value,
        deadline_ms: u64,
    ) -> Result<Value, HandlerError> {
        let env = self.function_env(function_name).await;
        let var = |k: &str| env.get(k).cloned().or_else(|| std::env::var(k).ok());
        let deps = validate::Deps::new(validate::Config::from_vars(&var)?, self.aws.clone());
        validate::handle_until(&deps, payload, deadline_ms).await
    }
}

impl Invoke for Handlers {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, HandlerError> {
        let env = self.function_env(function_name).await;
        let var = |k: &str| env.get(k).cloned().or_else(|| std::env::var(k).ok());
        let aws = self.aws.clone();
        // Longest suffix first: `-delete-temp` before anything shorter. The sandbox functions
        // (infra/sandbox.tf: the restore and delete-temp binaries, DRILL_SANDBOX_ONLY) take their
        // sandbox settings from the function's environment too.
        let sandbox = || drill_engine::sandbox::SandboxSettings::from_vars(var);
        let now = chrono::Utc::now();
        if function_name.ends_with("sandbox-delete") {
            let deps = delete_temp::Deps::new(delete_temp::Config::from_vars(&var)?, aws);
            delete_temp::sandbox::dispatch(&deps, &sandbox()?, payload, now).await
        } else if function_name.ends_with("sandbox") {
            let deps = restore::Deps::new(restore::Config::from_vars(&var)?, aws);
            restore::sandbox::dispatch(&deps, &sandbox()?, payload, now).await
        } else if function_name.ends_with("delete-temp") {
            let deps = delete_temp::Deps::new(delete_temp::Config::from_vars(&var)?, aws);
            delete_temp::handle(&deps, payload).await
        } else if function_name.ends_with("restore") {
            let deps = restore::Deps::new(restore::Config::from_vars(&var)?, aws);
            restore::handle(&deps, payload).await
        } else if function_name.ends_with("validate") {
            let deps = validate::Deps::new(validate::Config::from_vars(&var)?, aws);
            validate::handle(&deps, payload).await
        } else if function_name.ends_with("export") {
            let deps = export::Deps::new(export::Config::from_vars(&var)?, aws);
            export::handle(&deps, payload).await
        } else {
            Err(HandlerError::new(
                drill_core::ErrorKind::InvalidInput,
                format!("no restore-drill handler for function {function_name:?}"),
            ))
        }
    }
}

fn function_name(path: &str) -> Option<&str> {
    path.strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")
        .map(|name| name.rsplit(':').next().unwrap_or(name))
}

fn json_response(status: StatusCode, body: &Value, function_error: bool) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if function_error {
        builder = builder.header("X-Amz-Function-Error", "Unhandled");
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response parts are valid")
}

async fn answer<I: Invoke>(
    invoker: Arc<I>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    let Some(name) = function_name(&path).map(str::to_owned) else {
        // Anything else (e.g. a readiness probe): say who we are.
        return Ok(json_response(
            StatusCode::OK,
            &json!({"service": "restore-drill lambda-host"}),
            false,
        ));
    };
    let body = req.into_body().collect().await?.to_bytes();
    let payload: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let err = HandlerError::invalid_input(e);
                return Ok(json_response(
                    StatusCode::OK,
                    &json!({"errorType": err.error_type(), "errorMessage": err.message}),
                    true,
                ));
            }
        }
    };
    Ok(match invoker.invoke(&name, payload).await {
        Ok(out) => json_response(StatusCode::OK, &out, false),
        Err(err) => {
            tracing::warn!(function = %name, error_type = err.error_type(), "invocation failed");
            json_response(
                StatusCode::OK,
                &json!({"errorType": err.error_type(), "errorMessage": err.message}),
                true,
            )
        }
    })
}

/// Serves `invoker` on `listener` until the process ends.
pub async fn serve<I: Invoke>(
    listener: tokio::net::TcpListener,
    invoker: Arc<I>,
) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let invoker = invoker.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(invoker.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn function_names_from_invoke_paths() {
        assert_eq!(
            function_name("/2015-03-31/functions/drill-restore/invocations"),
            Some("drill-restore")
        );
        assert_eq!(
            function_name(
                "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:x-export/invocations"
            ),
            Some("x-export")
        );
        assert_eq!(function_name("/"), None);
    }
}
