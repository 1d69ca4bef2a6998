//! Where the deployed drill is (the stack's Terraform outputs), and which source ids are well formed.

use serde_json::Value;

/// Where the deployed drill is: from `terraform output -json` of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRef {
    pub state_machine_arn: String,
    pub reports_url: String,
}

impl StackRef {
    /// Reads `state_machine_arn` and `reports_url` (or `backup_bucket`) from the outputs.
    pub fn from_terraform_outputs(json: &str) -> Result<StackRef, String> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| format!("not the JSON of `terraform output -json`: {e}"))?;
        let get = |k: &str| {
            v.get(k)
                .and_then(|o| o.get("value"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let state_machine_arn = get("state_machine_arn")
            .ok_or("the outputs have no state_machine_arn: is this the drill stack's output?")?;
        let reports_url = get("reports_url")
            .or_else(|| get("backup_bucket").map(|b| format!("s3://{b}/reports")))
            .ok_or("the outputs have neither reports_url nor backup_bucket")?;
        Ok(StackRef {
            state_machine_arn,
            reports_url,
        })
    }
}

/// A source id given on the command line: the deployment decides whether it exists, but an id
/// that could not be one is refused before anything starts.
pub fn check_source_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a source id (letters, digits, '-' and '_', at most 64)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::readable_cause;
    use super::*;

    #[test]
    fn the_stack_is_found_from_terraform_outputs() {
        let s = StackRef::from_terraform_outputs(
            r#"{"state_machine_arn": {"value": "arn:aws:states:eu-west-1:1:stateMachine:d"}, "backup_bucket": {"value": "b"}}"#,
        )
        .unwrap();
        assert_eq!(s.reports_url, "s3://b/reports");
        let e = StackRef::from_terraform_outputs(r#"{"name": {"value": "x"}}"#).unwrap_err();
        assert!(e.contains("state_machine_arn"), "{e}");
        assert!(StackRef::from_terraform_outputs("nope").is_err());
        assert!(check_source_id("prod-app").is_ok());
        assert_eq!(
            readable_cause(r#"{"errorMessage":"no backup","errorType":"Drill.BackupInvalid"}"#),
            "no backup"
        );
        assert_eq!(readable_cause("plain"), "plain");
        assert!(check_source_id("a/b").is_err());
        assert!(check_source_id("").is_err());
    }
}
