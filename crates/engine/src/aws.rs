//! AWS SDK configuration shared by the Lambdas, the CLI and the tests.
//!
//! The SDK already honours `AWS_ENDPOINT_URL` (and per-service `AWS_ENDPOINT_URL_S3`, ...) and the
//! default credential chain. An emulator such as moto serves S3 on one host, so a custom endpoint
//! also switches S3 to path-style addressing.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the SDK configuration from the environment (region, credentials, endpoint URL).
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Whether a custom endpoint is configured (an emulator, or a VPC endpoint).
pub fn custom_s3_endpoint() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// S3 client; path-style when an endpoint URL is set (virtual-host style needs DNS per bucket).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config).force_path_style(custom_s3_endpoint());
    aws_sdk_s3::Client::from_conf(builder.build())
}

pub fn rds_client(config: &SdkConfig) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(config)
}

pub fn secrets_client(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}
