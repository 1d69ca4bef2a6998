//! What the user may add to the gate: a TOML file naming more data-bearing resource types.

use serde::{Deserialize, Serialize};

use super::{rules, PlanError};

/// What the user may add to the gate (`--config plan-gate.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Resource types to treat as data-bearing besides the built-in ones
    /// (e.g. `aws_neptune_cluster`, `google_sql_database_instance`).
    #[serde(default)]
    pub data_bearing_types: Vec<String>,
}

impl GateConfig {
    pub fn from_toml(text: &str, what: &str) -> Result<GateConfig, PlanError> {
        let c: GateConfig = toml::from_str(text).map_err(|e| PlanError::BadConfig {
            what: what.into(),
            detail: e.to_string(),
        })?;
        for t in &c.data_bearing_types {
            let ok = !t.is_empty()
                && t.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !ok {
                return Err(PlanError::BadConfig {
                    what: what.into(),
                    detail: format!(
                        "data_bearing_types: {t:?} is not a Terraform resource type name"
                    ),
                });
            }
        }
        Ok(c)
    }

    /// Whether `resource_type` holds data (built-in list or configured).
    pub fn is_data_bearing(&self, resource_type: &str) -> bool {
        rules::BUILTIN_DATA_BEARING.contains(&resource_type)
            || rules::PROTECTION_TYPES.contains(&resource_type)
            || self.data_bearing_types.iter().any(|t| t == resource_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_adds_types_and_rejects_nonsense() {
        let c = GateConfig::from_toml("data_bearing_types = [\"aws_neptune_cluster\"]", "g.toml")
            .unwrap();
        assert!(c.is_data_bearing("aws_neptune_cluster"));
        assert!(!GateConfig::default().is_data_bearing("aws_neptune_cluster"));
        let err =
            GateConfig::from_toml("data_bearing_types = [\"Bad Type\"]", "g.toml").unwrap_err();
        assert!(err.to_string().contains("\"Bad Type\""), "{err}");
        let err = GateConfig::from_toml("data_bearing = []", "g.toml").unwrap_err();
        assert!(err.to_string().contains("g.toml"), "{err}");
    }
}
