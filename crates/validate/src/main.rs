#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    drill_engine::lambda::serve(validate::Deps::from_env(), validate::handle).await
}
