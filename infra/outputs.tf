output "name" {
  description = "Name of the drill stack."
  value       = var.name
}

output "state_machine_arn" {
  description = "ARN of the drill state machine (start a manual run from the console or CLI)."
  value       = aws_sfn_state_machine.drill.arn
}

output "backup_bucket" {
  description = "Bucket holding backup sets (backups/) and drill reports (reports/), under Object Lock."
  value       = aws_s3_bucket.backups.bucket
}

output "alerts_topic_arn" {
  description = "SNS topic of drill failure alerts."
  value       = aws_sns_topic.alerts.arn
}

output "function_arns" {
  description = "ARNs of the drill Lambdas."
  value       = { for k, f in aws_lambda_function.function : k => f.arn }
}

output "temp_security_group_id" {
  description = "Security group attached to temporary instances."
  value       = aws_security_group.temp.id
}

output "nightly_input" {
  description = "The execution input the nightly schedule sends: no source ids, so every configured source runs. A manual run may name ids: {\"sources\": [\"prod-app\"]}."
  value       = jsonencode({})
}

output "deployment_config_url" {
  description = "Where the deployment configuration (every source's settings) lives; Terraform writes it, the functions read it."
  value       = local.config_url
}

output "kms_key_arn" {
  description = "The drill's KMS key (backups, reports, logs, the temps' master secrets). It outlives the stack: see the README's retirement path."
  value       = aws_kms_key.drill.arn
}

output "reports_url" {
  description = "Where the run reports are (`drill aws status|history` read them)."
  value       = local.reports_url
}

output "operator_policy_json" {
  description = "Least-privilege IAM policy for operators of `drill aws run|status|history`: start and read executions of this state machine, read the reports. Attach it to an operator role; the functions' roles are separate."
  value       = data.aws_iam_policy_document.operator.json
}
