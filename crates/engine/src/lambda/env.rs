//! Typed configuration from a function's environment, and the [`Deps`] a function builds once per
//! cold start. Every function reads its environment through a [`Vars`] lookup: the process
//! environment in Lambda, the function's configured environment in the local Lambda host.

use drill_core::deployment::DeploymentConfig;
use drill_core::pg_override::{PgOverride, RDS_PG_OVERRIDE_VAR};
use drill_core::ErrorKind;

use super::HandlerError;

/// How a function looks up one environment variable.
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A function's configuration, read from its environment.
pub trait FromVars: Sized {
    fn from_vars(var: Vars<'_>) -> Result<Self, HandlerError>;

    /// From the process environment (a deployed function).
    fn from_env() -> Result<Self, HandlerError> {
        Self::from_vars(&|k| std::env::var(k).ok())
    }
}

/// The settings every function reads: whether plaintext is allowed, and where the deployment
/// configuration lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionEnv {
    /// `DRILL_ALLOW_PLAINTEXT=true`: allow `tls = "disable"` (local stacks only).
    pub allow_plaintext: bool,
    /// `DRILL_CONFIG_URL`: the deployment configuration (every source's settings).
    pub config_url: Option<String>,
    /// `DRILL_RDS_PG_OVERRIDE=127.0.0.1:PORT`: connect there instead of a temp's endpoint
    /// (local test stacks only; see [`drill_core::pg_override`]).
    pub pg_override: Option<PgOverride>,
}

impl FromVars for FunctionEnv {
    fn from_vars(var: Vars<'_>) -> Result<Self, HandlerError> {
        let pg_override =
            PgOverride::parse(RDS_PG_OVERRIDE_VAR, var(RDS_PG_OVERRIDE_VAR).as_deref())
                .map_err(|e| HandlerError::new(ErrorKind::InvalidInput, e.to_string()))?;
        Ok(FunctionEnv {
            allow_plaintext: super::allow_plaintext(var),
            config_url: var(crate::deployment::CONFIG_URL_VAR),
            pg_override,
        })
    }
}

/// `name` as a number in `1..=max`, `default` when unset; anything else is `Drill.InvalidInput`
/// naming the variable.
pub fn env_number(var: Vars<'_>, name: &str, default: u64, max: u64) -> Result<u64, HandlerError> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(HandlerError::new(
                ErrorKind::InvalidInput,
                format!("{name}={v:?} must be a number between 1 and {max}"),
            )),
        },
    }
}

/// Everything a function needs, built once per cold start: its configuration `C` and the SDK
/// clients (building a client makes no call).
#[derive(Debug, Clone)]
pub struct Deps<C> {
    pub config: C,
    pub aws: aws_config::SdkConfig,
    pub rds: aws_sdk_rds::Client,
    pub s3: aws_sdk_s3::Client,
}

impl<C> Deps<C> {
    pub fn new(config: C, aws: aws_config::SdkConfig) -> Self {
        Deps {
            config,
            rds: crate::aws::rds_client(&aws),
            s3: crate::aws::s3_client(&aws),
            aws,
        }
    }

    /// The deployment configuration at `config_url`, read on every invocation.
    pub async fn deployment(
        &self,
        config_url: Option<&str>,
    ) -> Result<DeploymentConfig, HandlerError> {
        crate::deployment::load(config_url, Some(&self.s3)).await
    }
}

impl<C: FromVars> Deps<C> {
    /// The configuration from the process environment and the SDK's default chain.
    pub async fn from_env() -> Result<Self, HandlerError> {
        Ok(Deps::new(C::from_env()?, crate::aws::load_config().await))
    }
}

/// How a function sizes work units, from `DRILL_UNIT_THROUGHPUT_MIBPS` (MiB/s one invocation
/// reads), `DRILL_UNIT_INVOCATION_SECONDS` (the function's timeout) and `DRILL_UNIT_FILL_PERCENT`.
pub fn planner_settings(var: Vars<'_>) -> Result<drill_core::units::PlannerSettings, HandlerError> {
    let d = drill_core::units::PlannerSettings::default();
    let mibps = env_number(
        var,
        "DRILL_UNIT_THROUGHPUT_MIBPS",
        d.throughput_bytes_per_second >> 20,
        1 << 14,
    )?;
    let settings = drill_core::units::PlannerSettings {
        throughput_bytes_per_second: mibps << 20,
        invocation_seconds: env_number(
            var,
            "DRILL_UNIT_INVOCATION_SECONDS",
            d.invocation_seconds,
            900,
        )?,
        fill_percent: env_number(var, "DRILL_UNIT_FILL_PERCENT", d.fill_percent, 90)?,
    };
    settings.check().map_err(HandlerError::invalid_input)?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked_and_named() {
        let unset = |_: &str| None;
        assert_eq!(env_number(&unset, "N", 2, 64).unwrap(), 2);
        assert_eq!(env_number(&|_| Some(" 8 ".into()), "N", 2, 64).unwrap(), 8);
        for bad in ["0", "65", "two", ""] {
            let err = env_number(&|_| Some(bad.into()), "DRILL_N", 2, 64).unwrap_err();
            assert_eq!(err.error_type(), "Drill.InvalidInput");
            assert!(err.message.contains("DRILL_N"), "{err}");
        }
    }

    #[test]
    fn the_common_settings_come_from_the_environment() {
        let env = FunctionEnv::from_vars(&|k| match k {
            "DRILL_ALLOW_PLAINTEXT" => Some("true".into()),
            "DRILL_CONFIG_URL" => Some("s3://b/config/drill.json".into()),
            _ => None,
        })
        .unwrap();
        assert!(env.allow_plaintext);
        assert_eq!(env.config_url.as_deref(), Some("s3://b/config/drill.json"));
        assert_eq!(
            FunctionEnv::from_vars(&|_| None).unwrap(),
            FunctionEnv::default()
        );
    }
}
