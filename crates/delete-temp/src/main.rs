use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    drill_engine::lambda::init_tracing();
    let deps = delete_temp::Deps::from_env().await?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        delete_temp::handle(deps, event.payload).await
    }))
    .await
}
