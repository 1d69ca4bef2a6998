#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    drill_engine::lambda::serve(delete_temp::Deps::from_env(), delete_temp::handle).await
}
