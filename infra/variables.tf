variable "region" {
  description = "AWS region of the drill stack (and of the source databases it restores)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of this drill stack; prefixes every resource it creates."
  type        = string
  default     = "restore-drill"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "sources" {
  description = <<-EOT
    Source databases to drill every night. Each is restored, validated, exported and cleaned up.
    kind = "rds-snapshot": restore the newest snapshot of instance_identifier (database = the
    database name inside it). kind = "backup-set": restore the newest backup set of this source
    from the backup bucket into a temporary database on restore_server (a PostgreSQL server the
    drill may create databases on; its credentials in the Secrets Manager secret
    restore_server.secret_arn), from the backup sets that source backup_of exports (another
    source's id, usually the rds-snapshot source of the same database). max_age_hours (default 26):
    the newest snapshot or backup set must hold data younger than this, so a drill never passes on
    backups that have stopped. checks: optional check configuration (TOML text, see
    docs/validation.md). no_owner (backup-set only): restore without ownership and privileges,
    for a restore_server that lacks the source's roles (roles are not part of a backup).
    snapshot_copy (rds-snapshot and aurora-cluster, optional): every night first copy the
    newest automated snapshot (of an aurora-cluster: cluster snapshot) to a drill-tagged manual
    snapshot that survives the instance or cluster, in region (default: this one), encrypted with
    kms_key_id (a key of that region; needed for encrypted snapshots copied to another region or
    shared; an unencrypted cluster snapshot takes none: RDS cannot encrypt one while copying it),
    shared with the 12-digit accounts in share_with (never "all"); copies older than
    retention_days are deleted, keeping the newest keep_newest.
  EOT
  type = list(object({
    id                  = string
    kind                = string
    instance_identifier = optional(string)
    database            = optional(string)
    snapshot            = optional(string, "newest")
    max_age_hours       = optional(number, 26)
    backup_of           = optional(string)
    restore_server = optional(object({
      host       = string
      port       = optional(number, 5432)
      database   = optional(string, "postgres")
      secret_arn = string
    }))
    checks   = optional(string)
    no_owner = optional(bool, false)
    # The temp's DB parameter group (aurora-cluster: DB cluster parameter group; default: the
    # engine family's default; RDS never gives a restore the source's own group), and the ARN of
    # the customer managed KMS key the source's snapshots are encrypted with (the restore, and a
    # copy to another region, need kms:CreateGrant on it; rds-snapshot sources read it from the
    # instance when not given).
    parameter_group = optional(string)
    kms_key_arn     = optional(string)
    snapshot_copy = optional(object({
      region         = optional(string)
      kms_key_id     = optional(string)
      share_with     = optional(list(string), [])
      retention_days = optional(number, 7)
      keep_newest    = optional(number, 2)
    }))
    # rds-snapshot only: restore a point in time of the automated backups instead of a snapshot
    # (mode = "point-in-time"; moment = "latest" or "random" between the earliest and latest
    # restorable times, drawn from seed, default derived from the execution name and source id;
    # replicated_from = the source's region when its automated backups are replicated here).
    # aurora-cluster only: the Aurora PostgreSQL cluster to restore (its cluster snapshots, or
    # a point in time), and the temp cluster's one instance (default db.serverless at the
    # smallest minimum capacity the engine version allows, maximum 4 ACUs).
    cluster_identifier = optional(string)
    instance = optional(object({
      class        = optional(string)
      min_capacity = optional(number)
      max_capacity = optional(number)
    }))
    restore = optional(object({
      mode            = optional(string, "snapshot")
      moment          = optional(string, "latest")
      seed            = optional(number)
      replicated_from = optional(string)
    }))
  }))
  default = []

  validation {
    condition = alltrue([for s in var.sources : s.restore == null || (
      contains(["rds-snapshot", "aurora-cluster"], s.kind) && contains(["snapshot", "point-in-time"], try(s.restore.mode, "")) &&
    contains(["latest", "random"], try(s.restore.moment, "")))])
    error_message = "restore is for rds-snapshot and aurora-cluster sources only: mode \"snapshot\" or \"point-in-time\", moment \"latest\" or \"random\"."
  }

  validation {
    condition     = alltrue([for s in var.sources : contains(["rds-snapshot", "backup-set", "aurora-cluster"], s.kind)])
    error_message = "Each source kind must be \"rds-snapshot\", \"aurora-cluster\" or \"backup-set\"."
  }
  validation {
    condition     = alltrue([for s in var.sources : s.kind != "aurora-cluster" || (s.cluster_identifier != null && s.database != null)])
    error_message = "aurora-cluster sources need cluster_identifier and database."
  }
  validation {
    condition     = alltrue([for s in var.sources : s.kind != "rds-snapshot" || (s.instance_identifier != null && s.database != null)])
    error_message = "rds-snapshot sources need instance_identifier and database."
  }
  validation {
    condition     = alltrue([for s in var.sources : s.kind != "backup-set" || s.restore_server != null])
    error_message = "backup-set sources need restore_server."
  }
  validation {
    # Reading its own exports would restore last night's re-export instead of a real backup.
    condition     = alltrue([for s in var.sources : s.kind != "backup-set" || (s.backup_of != null && s.backup_of != s.id)])
    error_message = "backup-set sources need backup_of: the id of the source whose exports they restore (not their own id)."
  }
  validation {
    # The restore function's grants on RDS and Aurora sources are managed policies of four
    # sources each, at most 10 a role (IAM's default quota): infra/iam_sources.tf.
    condition     = length([for s in var.sources : s.id if s.kind != "backup-set"]) <= 40
    error_message = "At most 40 rds-snapshot and aurora-cluster sources a deployment (IAM: 10 managed policies a role, 6,144 characters each): split the sources over two deployments with different names."
  }
  validation {
    # Copies are tagged and guarded by the instance or cluster they copy: two copying sources of
    # one database would share and expire each other's copies.
    condition     = length(distinct([for s in var.sources : "${s.kind}/${lower(coalesce(s.instance_identifier, s.cluster_identifier, s.id))}" if s.snapshot_copy != null])) == length([for s in var.sources : s.id if s.snapshot_copy != null])
    error_message = "Only one source per instance or cluster may have snapshot_copy (two would share and expire each other's copies)."
  }
  validation {
    condition     = alltrue([for s in var.sources : s.snapshot_copy == null || contains(["rds-snapshot", "aurora-cluster"], s.kind)])
    error_message = "snapshot_copy is for rds-snapshot and aurora-cluster sources only."
  }
  validation {
    # "all" would make a full copy of production public.
    condition     = alltrue(flatten([for s in var.sources : [for a in try(s.snapshot_copy.share_with, []) : can(regex("^[0-9]{12}$", a))]]))
    error_message = "snapshot_copy.share_with takes 12-digit AWS account ids only (never \"all\")."
  }
  validation {
    condition     = alltrue(flatten([for s in var.sources : [for a in try(s.snapshot_copy.share_with, []) : contains(var.snapshot_copy_accounts, a)]]))
    error_message = "Every snapshot_copy.share_with account must be in snapshot_copy_accounts."
  }
  validation {
    condition     = alltrue([for s in var.sources : try(s.snapshot_copy.region, null) == null || contains(var.snapshot_copy_regions, try(s.snapshot_copy.region, ""))])
    error_message = "Every snapshot_copy.region must be in snapshot_copy_regions."
  }
  validation {
    condition     = alltrue([for s in var.sources : try(s.snapshot_copy.retention_days >= 1 && s.snapshot_copy.keep_newest >= 1, true)])
    error_message = "snapshot_copy.retention_days and keep_newest must be at least 1."
  }
  validation {
    condition     = length(distinct([for s in var.sources : s.id])) == length(var.sources)
    error_message = "Source ids must be unique."
  }
}

variable "temp_prefix" {
  description = "Prefix of every temporary instance and database the drill creates. IAM and the delete guards key on it: it must never match a production name."
  type        = string
  default     = "rdrill-"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*-$", var.temp_prefix)) && length(var.temp_prefix) <= 20
    error_message = "temp_prefix: lowercase letters, digits and single hyphens, ending with '-', at most 20 characters."
  }
}

variable "protected_identifiers" {
  description = "Instance identifiers and database names the drill must never delete, whatever their tags say (the sources are always protected)."
  type        = list(string)
  default     = []
}

variable "schedule_expression" {
  description = "When the nightly drill runs (EventBridge schedule expression, UTC)."
  type        = string
  default     = "cron(0 3 * * ? *)"
}

variable "schedule_enabled" {
  description = "Whether the nightly schedule is enabled."
  type        = bool
  default     = true
}

variable "temp_instance_classes" {
  description = "Instance classes of temporary restores, in order of preference: when RDS has no capacity for one (InsufficientDBInstanceCapacity), the restore tries the next. Small: the drill proves restorability, not performance."
  type        = list(string)
  default     = ["db.t4g.medium", "db.t3.medium", "db.m6g.large"]

  validation {
    condition     = length(var.temp_instance_classes) > 0 && alltrue([for c in var.temp_instance_classes : can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", c))])
    error_message = "temp_instance_classes: at least one class, each like db.t4g.medium."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of each Lambda; null (default) reserves none. A new account's concurrency quota is often too small to reserve any: Lambda keeps 100 unreserved."
  type        = number
  default     = null
}

variable "kms_break_glass_principal_arn" {
  description = "The only principal allowed to schedule deletion of, disable, or change the policy of the drill's KMS key (which encrypts the locked backups). Default: the account root user. Later changes to the key policy must be applied as this principal."
  type        = string
  default     = null
}

variable "temp_ttl_hours" {
  description = "Hours after which the janitor deletes a temporary instance a failed run left behind (1-48)."
  type        = number
  default     = 12

  validation {
    condition     = var.temp_ttl_hours >= 1 && var.temp_ttl_hours <= 48
    error_message = "temp_ttl_hours must be between 1 and 48."
  }
}

variable "restore_budget_seconds" {
  description = "Time budget for a temporary instance to become available before the drill fails."
  type        = number
  default     = 7200
}

variable "wait_seconds" {
  description = "Seconds between status checks while a restore is in progress."
  type        = number
  default     = 60
}

variable "max_concurrency" {
  description = "How many sources are drilled at the same time."
  type        = number
  default     = 2
}

variable "object_lock_mode" {
  description = "Object Lock mode of backup objects: COMPLIANCE only (nobody, not even root, can delete before expiry)."
  type        = string
  default     = "COMPLIANCE"

  validation {
    # GOVERNANCE can be bypassed by anyone with s3:BypassGovernanceRetention: not a backup lock.
    condition     = var.object_lock_mode == "COMPLIANCE"
    error_message = "object_lock_mode must be COMPLIANCE: backups are locked so that nobody can shorten or bypass the retention."
  }
}

variable "object_lock_days" {
  description = "Days every backup object is locked against deletion and overwrite (COMPLIANCE). Noncurrent versions are kept at least this long."
  type        = number
  default     = 35

  validation {
    condition     = var.object_lock_days >= 1 && floor(var.object_lock_days) == var.object_lock_days
    error_message = "object_lock_days must be a whole number of days, at least 1."
  }
}

variable "snapshot_copy_accounts" {
  description = "Allowlist: the only 12-digit accounts snapshot copies may be shared with (each source's snapshot_copy.share_with must be inside it). The restore function refuses any other account before any call."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.snapshot_copy_accounts : can(regex("^[0-9]{12}$", a))])
    error_message = "snapshot_copy_accounts takes 12-digit AWS account ids only (never \"all\")."
  }
}

variable "snapshot_copy_regions" {
  description = "Allowlist: the only regions other than this one that snapshot copies may be made in (each source's snapshot_copy.region must be inside it)."
  type        = list(string)
  default     = []
}

variable "backup_transition_days" {
  description = "Days after which backup objects move to Glacier Instant Retrieval."
  type        = number
  default     = 30
}

variable "backup_expiration_days" {
  description = "Days after which backup objects expire (must exceed object_lock_days)."
  type        = number
  default     = 400
}

variable "alert_emails" {
  description = "E-mail addresses subscribed to drill failure alerts."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "VPC of the temporary instances and the Lambdas (the sources' VPC, so snapshots restore next to them)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for temporary instances and Lambdas (at least two AZs for the DB subnet group)."
  type        = list(string)
}

variable "lambda_zip_dir" {
  description = "Directory holding restore.zip, validate.zip, export.zip and delete-temp.zip from `cargo lambda build --release --arm64 --output-format zip`."
  type        = string
  default     = "../target/lambda"
}

variable "lambda_architecture" {
  description = "Lambda architecture the zips were built for."
  type        = string
  default     = "arm64"
}

variable "log_retention_days" {
  description = "Retention of the Lambdas' and the state machine's logs."
  type        = number
  default     = 365
}

variable "restore_server_cidrs" {
  description = "CIDR blocks of the PostgreSQL servers that backup-set sources restore into (the Lambdas may reach them on 5432)."
  type        = list(string)
  default     = []
}

variable "pg_dump_layer_arns" {
  description = "Optional Lambda layers for the export function. Not needed: export.zip (scripts/pg-binaries package) ships pg_dump of the newest PostgreSQL major at /var/task/pg_dump/bin/pg_dump. A layer that provides another pg_dump also sets pg_dump_path (a layer's files are under /opt)."
  type        = list(string)
  default     = []
}

variable "pg_dump_path" {
  description = "The pg_dump the export function runs (DRILL_PG_DUMP); of the sources' major or newer, which the export checks before reading data. null: the one in export.zip."
  type        = string
  default     = null
}

variable "janitor_schedule_expression" {
  description = "When the janitor deletes expired temporary instances left by runs that died."
  type        = string
  default     = "rate(1 hour)"
}
