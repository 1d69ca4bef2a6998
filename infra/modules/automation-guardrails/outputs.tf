output "policy_json" {
  description = "The rendered guardrail policy document."
  value       = data.aws_iam_policy_document.guardrails.json
}

output "policy_arn" {
  description = "ARN of the created policy (null when create_policy = false)."
  value       = try(aws_iam_policy.guardrails[0].arn, null)
}
