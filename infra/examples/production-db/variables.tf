variable "region" {
  description = "AWS region of the production database."
  type        = string
  default     = "us-east-1"
}

variable "identifier" {
  description = "DB instance identifier of the production database."
  type        = string
  default     = "prod-app"
}

variable "instance_class" {
  description = "Instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "backup_retention_days" {
  description = "Automated backup retention (restore-drill's posture audit checks it)."
  type        = number
  default     = 14
}

variable "subnet_group_name" {
  description = "Existing DB subnet group (private subnets)."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups of the instance."
  type        = list(string)
}

variable "monitoring_role_arn" {
  description = "IAM role for enhanced monitoring."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for storage and Performance Insights."
  type        = string
}
