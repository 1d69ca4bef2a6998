output "identifier" {
  description = "Identifier to list in restore-drill's `sources`."
  value       = aws_db_instance.production.identifier
}

output "master_user_secret_arn" {
  description = "Secrets Manager ARN of the RDS-managed master secret."
  value       = aws_db_instance.production.master_user_secret[0].secret_arn
}
