#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    drill_engine::lambda::serve_until(validate::Deps::from_env(), validate::handle_until).await
}
