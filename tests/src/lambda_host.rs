//! The Lambda Invoke HTTP path in front of our handlers (used by `lambda-host` and by tests that
//! serve their own handler).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use drill_engine::lambda::HandlerError;

/// One in-process Lambda: name in, JSON in, JSON or error out.
pub trait Invoke: Send + Sync + 'static {
    fn invoke(
        &self,
        function_name: &str,
        payload: Value,
    ) -> impl std::future::Future<Output = Result<Value, HandlerError>> + Send;
}

/// Our four handlers with their dependencies, built once.
pub struct Handlers {
    pub restore: restore::Deps,
    pub validate: validate::Deps,
    pub export: export::Deps,
    pub delete_temp: delete_temp::Deps,
}

impl Handlers {
    pub async fn from_env() -> anyhow::Result<Self> {
        let err = |e: HandlerError| anyhow::anyhow!(e.to_string());
        Ok(Handlers {
            restore: restore::Deps::from_env().await.map_err(err)?,
            validate: validate::Deps::from_env().await.map_err(err)?,
            export: export::Deps::from_env().await.map_err(err)?,
            delete_temp: delete_temp::Deps::from_env().await.map_err(err)?,
        })
    }
}

impl Invoke for Handlers {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, HandlerError> {
        // Longest suffix first: `-delete-temp` before anything shorter.
        if function_name.ends_with("delete-temp") {
            delete_temp::handle(&self.delete_temp, payload).await
        } else if function_name.ends_with("restore") {
            restore::handle(&self.restore, payload).await
        } else if function_name.ends_with("validate") {
            validate::handle(&self.validate, payload).await
        } else if function_name.ends_with("export") {
            export::handle(&self.export, payload).await
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
