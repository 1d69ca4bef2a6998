variable "name" {
  description = "Name of the IAM policy (and prefix of its statement ids' purpose)."
  type        = string
  default     = "automation-guardrails"
}

variable "path" {
  description = "IAM path of the policy."
  type        = string
  default     = "/"
}

variable "drill_tag_key" {
  description = "Tag key that marks restore-drill's own resources."
  type        = string
  default     = "drill:role"
}

variable "drill_temp_tag_values" {
  description = "Values of drill_tag_key on the drill's temporary instances and clusters: only these may be deleted or modified."
  type        = list(string)
  default     = ["temp"]
}

variable "drill_snapshot_tag_values" {
  description = "Values of drill_tag_key on the drill's own snapshot copies: only these snapshots may be deleted or re-shared."
  type        = list(string)
  default     = ["snapshot-copy"]
}

variable "backup_bucket_arns" {
  description = "ARNs of the backup buckets (e.g. restore-drill's backup bucket) that automation must never delete or weaken."
  type        = list(string)
  default     = []
}

variable "backup_kms_key_arns" {
  description = "ARNs of the KMS keys that encrypt backups: automation must never schedule their deletion or disable them."
  type        = list(string)
  default     = []
}

variable "state_bucket_arn" {
  description = "ARN of the Terraform state bucket (null: no state rules)."
  type        = string
  default     = null
}

variable "state_object_patterns" {
  description = "Object key patterns of state files in the state bucket. The S3 backend's lock files (<key>.tflock) must stay deletable, so keep the pattern off them."
  type        = list(string)
  default     = ["*.tfstate"]
}

variable "protected_role_arns" {
  description = "Roles this policy guards (the automation's own roles): their permissions boundary and attached policies must not be removed by the automation itself."
  type        = list(string)
  default     = []
}

variable "as_permissions_boundary" {
  description = "Add an Allow of everything so the policy works as a permissions boundary (a boundary with only Deny statements allows nothing). Leave false when attaching it as a policy."
  type        = bool
  default     = false
}

variable "create_policy" {
  description = "Create the aws_iam_policy (false: only render the document, e.g. for an SCP or a boundary managed elsewhere)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags of the policy."
  type        = map(string)
  default     = {}
}
