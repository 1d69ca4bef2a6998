# restore-drill: the nightly drill stack. The production databases are NOT managed here: they are
# read through data sources only, so no `terraform destroy` of this stack can reach them (see
# examples/production-db for the settings a production instance should have).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# Read-only view of every RDS source: proves it exists at plan time and scopes IAM to its snapshots.
data "aws_db_instance" "source" {
  for_each               = { for s in var.sources : s.id => s if s.kind == "rds-snapshot" }
  db_instance_identifier = each.value.instance_identifier
}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  rds_arn   = "arn:${local.partition}:rds:${local.region}:${local.account}"

  functions = toset(["restore", "validate", "export", "delete-temp"])

  source_identifiers = [for s in var.sources : s.instance_identifier if s.kind == "rds-snapshot"]

  # Where drill snapshot copies may live (this region and each source's copy region).
  copy_regions       = distinct(concat([local.region], compact([for s in var.sources : try(s.snapshot_copy.region, null)])))
  copy_snapshot_arns = [for r in local.copy_regions : "arn:${local.partition}:rds:${r}:${local.account}:snapshot:${var.temp_prefix}*"]
  # Aurora sources' copies are cluster snapshots.
  copy_cluster_snapshot_arns = [for r in local.copy_regions : "arn:${local.partition}:rds:${r}:${local.account}:cluster-snapshot:${var.temp_prefix}*"]
  # Which copy grants each kind needs: CopyDBSnapshot & co. for instances (infra/iam.tf),
  # CopyDBClusterSnapshot & co. for clusters (infra/iam_aurora.tf).
  instance_copies_wanted = length([for s in var.sources : s.id if s.kind == "rds-snapshot" && s.snapshot_copy != null]) > 0
  cluster_copies_wanted  = length([for s in var.sources : s.id if s.kind == "aurora-cluster" && s.snapshot_copy != null]) > 0
  # The KMS keys of the sources and of their copies: infra/iam_sources.tf.

  backups_url = "s3://${aws_s3_bucket.backups.bucket}/backups"
  reports_url = "s3://${aws_s3_bucket.backups.bucket}/reports"

  # The deployment configuration (drill_core::deployment::DeploymentConfig): every source's
  # settings, read by each function by source id. Executions name only source ids, so nothing in
  # an execution's input steers what is restored, shared, run or kept. (Each source branch is
  # JSON-encoded so the two object shapes can share one conditional.)
  drill_config = {
    temp_prefix      = var.temp_prefix
    backups_url      = local.backups_url
    object_lock_days = var.object_lock_days
    copy_accounts    = var.snapshot_copy_accounts
    copy_regions     = var.snapshot_copy_regions
    sources = [for s in var.sources : jsondecode(jsonencode(merge(
      { id = s.id, source = jsondecode(s.kind == "rds-snapshot" ? jsonencode({
        kind                = "rds-snapshot"
        instance_identifier = s.instance_identifier
        database            = s.database
        max_age_hours       = s.max_age_hours
        parameter_group     = s.parameter_group
        snapshot            = jsondecode(contains(["newest", "newest-automated", "newest-manual"], s.snapshot) ? jsonencode({ pick = s.snapshot }) : jsonencode({ pick = "id", id = s.snapshot }))
        }) : s.kind == "aurora-cluster" ? jsonencode({
        kind                    = "aurora-cluster"
        cluster_identifier      = s.cluster_identifier
        database                = s.database
        max_age_hours           = s.max_age_hours
        cluster_parameter_group = s.parameter_group
        snapshot                = jsondecode(contains(["newest", "newest-automated", "newest-manual"], s.snapshot) ? jsonencode({ pick = s.snapshot }) : jsonencode({ pick = "id", id = s.snapshot }))
        instance                = jsondecode(s.instance == null ? "{}" : jsonencode({ for k, v in s.instance : k => v if v != null }))
        }) : jsonencode({
        kind          = "backup-set"
        store         = "${local.backups_url}/${coalesce(s.backup_of, s.id)}"
        max_age_hours = s.max_age_hours
        no_owner      = s.no_owner
        server = {
          host     = try(s.restore_server.host, null)
          port     = try(s.restore_server.port, null)
          database = try(s.restore_server.database, null)
          secret   = { secrets_manager = { secret_id = try(s.restore_server.secret_arn, null) } }
          tls      = "verify-full"
        }
      })) },
      s.checks == null ? {} : { checks = s.checks },
      s.snapshot_copy == null ? {} : { snapshot_copy = { for k, v in s.snapshot_copy : k => v if v != null } },
      try(s.restore.mode, "snapshot") == "snapshot" ? {} : { restore = { for k, v in s.restore : k => v if v != null } },
    )))]
  }
  config_key = "config/drill.json"
  config_url = "s3://${aws_s3_bucket.backups.bucket}/${local.config_key}"

  restore_server_secrets = distinct([for s in var.sources : s.restore_server.secret_arn if s.kind == "backup-set"])
}

# Versioned with the bucket (every change is a new, locked version); only Terraform writes it:
# no function role may write under config/.
resource "aws_s3_object" "drill_config" {
  bucket             = aws_s3_bucket.backups.id
  key                = local.config_key
  content            = jsonencode(local.drill_config)
  content_type       = "application/json"
  checksum_algorithm = "SHA256" # Object Lock buckets refuse writes without a checksum
  depends_on         = [aws_s3_bucket_object_lock_configuration.backups]
}
