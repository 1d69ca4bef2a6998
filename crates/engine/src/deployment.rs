//! Reads the deployment configuration ([`drill_core::deployment::DeploymentConfig`]) that
//! Terraform writes: one JSON object named by `DRILL_CONFIG_URL` (`s3://bucket/config/drill.json`
//! in AWS, `file:///...` locally). Read on every invocation: it is small, and a function must act
//! on the configuration as deployed now, not as it was at its cold start.

use drill_core::deployment::DeploymentConfig;
use drill_core::ErrorKind;

use crate::lambda::HandlerError;
use crate::store::Store;

/// The environment variable naming the configuration object.
pub const CONFIG_URL_VAR: &str = "DRILL_CONFIG_URL";

/// Loads and checks the configuration at `url`.
pub async fn load(
    url: Option<&str>,
    s3: Option<&aws_sdk_s3::Client>,
) -> Result<DeploymentConfig, HandlerError> {
    let url = url.filter(|u| !u.is_empty()).ok_or_else(|| {
        HandlerError::new(
            ErrorKind::InvalidInput,
            format!("{CONFIG_URL_VAR} is not set: the function reads every source's settings from the deployment configuration"),
        )
    })?;
    let (dir, key) = url.rsplit_once('/').ok_or_else(|| {
        HandlerError::new(
            ErrorKind::InvalidInput,
            format!("{CONFIG_URL_VAR}={url:?}: expected s3://bucket/key or file:///path"),
        )
    })?;
    let store = Store::open(dir, s3)?;
    let body = store.get(key).await.map_err(|e| {
        HandlerError::new(
            ErrorKind::CouldNotRun,
            format!("reading the deployment configuration {url}: {e}"),
        )
    })?;
    Ok(DeploymentConfig::from_json(&body)?)
}
