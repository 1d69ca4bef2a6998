#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    drill_engine::lambda::serve(restore::Deps::from_env(), restore::handle).await
}
