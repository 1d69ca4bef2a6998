#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    drill_engine::lambda::serve(export::Deps::from_env(), export::handle).await
}
