//! Serves our four Lambda handlers behind the Lambda Invoke HTTP path
//! (`POST /2015-03-31/functions/<name>/invocations`), so moto's Step Functions executor runs our
//! real code (see tests/stack/moto_server.py). The function is chosen by the suffix of its name
//! (`...-restore`, `...-validate`, `...-export`, `...-delete-temp`), the way Terraform names them.
//!
//! A handler error is answered like Lambda does: HTTP 200, `X-Amz-Function-Error: Unhandled`, and
//! `{"errorType", "errorMessage"}`, so the state machine's Retry/Catch see our error_type.

use std::net::SocketAddr;
use std::sync::Arc;

use drill_tests::lambda_host::{serve, Handlers};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(addr)) => addr.parse()?,
        _ => anyhow::bail!("usage: lambda-host --listen 127.0.0.1:PORT"),
    };
    let handlers = Arc::new(Handlers::from_env().await?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("lambda-host listening on http://{listen}");
    serve(listener, handlers).await
}
