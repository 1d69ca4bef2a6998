# Least privilege, one role per function. The guards in code are the first line of defence; these
# policies are the second: even a bug in the guards cannot make AWS delete or modify anything
# that is not named with the drill prefix AND tagged as a drill temp.

locals {
  temp_tag_key   = "drill:role" # drill_core::guards::tag::ROLE
  temp_tag_value = "temp"
  temp_db_arn    = "${local.rds_arn}:db:${var.temp_prefix}*"
  # Automated snapshots are named rds:<instance>-YYYY-MM-DD-HH-MM; the date pattern keeps
  # `rds:prod-*` from also matching `rds:prod-billing-...` of another instance. Manual snapshots of a
  # source must follow the same <instance>-YYYY-MM-DD-HH-MM form (grants: iam_sources.tf, sandbox.tf).
  snapshot_date_pattern = "????-??-??-??-??"
  # Each instance source's automated and manual snapshots, by instance identifier.
  instance_snapshot_arns = { for id in local.source_identifiers : id => [
    "${local.rds_arn}:snapshot:rds:${id}-${local.snapshot_date_pattern}",
    "${local.rds_arn}:snapshot:${id}-${local.snapshot_date_pattern}",
  ] }
  # RDS-managed master secrets of temp instances are named rds!db-<uuid> and tagged with the
  # instance ARN; the drill may read only those belonging to its temp instances.
  managed_secret_arn = "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:rds!db-*"
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# What every function needs to run: its own log group, X-Ray, and the network interfaces of a VPC
# Lambda. Written out rather than attaching AWSLambdaVPCAccessExecutionRole, which grants logs
# on every log group.
data "aws_iam_policy_document" "lambda_base" {
  #checkov:skip=CKV_AWS_356:EC2 network-interface and X-Ray actions do not support resource-level permissions; Lambda needs them to run in the VPC.
  #checkov:skip=CKV_AWS_111:EC2 network-interface actions cannot be scoped to resources; Lambda manages these interfaces itself.
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.name}-*:*"]
  }

  statement {
    sid = "VpcNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

# The deployment configuration: every function reads it (and only Terraform writes it).
data "aws_iam_policy_document" "deployment_config" {
  statement {
    sid       = "ReadDeploymentConfig"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/${local.config_key}"]
  }
  statement {
    sid       = "DecryptDeploymentConfig"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.drill.arn]
  }
}

# Credentials: every function may read the backup-set restore servers' secrets; validate and
# export also read the RDS-managed master secrets of drill temps (and only those).
data "aws_iam_policy_document" "restore_server_secrets" {
  dynamic "statement" {
    for_each = length(local.restore_server_secrets) > 0 ? [1] : []
    content {
      sid       = "ReadRestoreServerSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.restore_server_secrets
    }
  }
}

data "aws_iam_policy_document" "temp_secrets" {
  statement {
    sid       = "ReadSecretsOfDrillTempsOnly"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.managed_secret_arn]
    condition {
      test     = "StringLike"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [local.temp_db_arn]
    }
  }
}

# ---------------------------------------------------------------- restore

data "aws_iam_policy_document" "restore" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_base.json, data.aws_iam_policy_document.restore_server_secrets.json, data.aws_iam_policy_document.deployment_config.json]
  statement {
    sid       = "TagOnlyDrillInstancesAtCreation"
    actions   = ["rds:AddTagsToResource"]
    resources = [local.temp_db_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.temp_tag_key}"
      values   = [local.temp_tag_value]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["drill:*"]
    }
  }

  # The code calls it only to hand the master password to Secrets Manager
  # (ManageMasterUserPassword) on a drill temp. IAM has no condition key for the other
  # parameters, so this grant is bounded by resource and tag (drill temps only), not by what a
  # modify may change: production stays out of reach, and the guard refuses anything protected.
  statement {
    sid       = "ManageSecretOfDrillTempsOnly"
    actions   = ["rds:ModifyDBInstance"]
    resources = [local.temp_db_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.temp_tag_key}"
      values   = [local.temp_tag_value]
    }
  }

  # RDS creates the temp's managed secret on the caller's behalf, tagged with the instance ARN:
  # the same tag condition as the temp secrets, so production's managed secret (also rds!db-*)
  # is never reachable.
  statement {
    sid       = "RdsManagedSecretCreationForDrillTempsOnly"
    actions   = ["secretsmanager:CreateSecret"]
    resources = [local.managed_secret_arn]
    condition {
      test     = "StringLike"
      variable = "aws:RequestTag/aws:rds:primaryDBInstanceArn"
      values   = [local.temp_db_arn]
    }
  }
  statement {
    sid       = "RdsManagedSecretOfDrillTempsOnly"
    actions   = ["secretsmanager:TagResource", "secretsmanager:RotateSecret"]
    resources = [local.managed_secret_arn]
    condition {
      test     = "StringLike"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [local.temp_db_arn]
    }
  }

  statement {
    sid       = "ReadOnlyDescribe"
    actions   = ["rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:ListTagsForResource", "rds:DescribeDBInstanceAutomatedBackups"]
    resources = ["${local.rds_arn}:db:*", "${local.rds_arn}:snapshot:*", "${local.rds_arn}:auto-backup:*"]
  }

  # Tags only on drill-named snapshots, only drill:* keys, and only with the snapshot-copy role
  # in the request: a source's or a person's snapshot can never be tagged into looking like ours.
  dynamic "statement" {
    for_each = local.instance_copies_wanted ? [1] : []
    content {
      sid       = "TagOnlyDrillSnapshotCopies"
      actions   = ["rds:AddTagsToResource"]
      resources = local.copy_snapshot_arns
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/${local.temp_tag_key}"
        values   = ["snapshot-copy"]
      }
      condition {
        test     = "ForAllValues:StringLike"
        variable = "aws:TagKeys"
        values   = ["drill:*"]
      }
    }
  }
  dynamic "statement" {
    for_each = local.instance_copies_wanted ? [1] : []
    content {
      sid       = "ShareOnlyDrillSnapshotCopies"
      actions   = ["rds:ModifyDBSnapshotAttribute"]
      resources = local.copy_snapshot_arns
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${local.temp_tag_key}"
        values   = ["snapshot-copy"]
      }
    }
  }
  dynamic "statement" {
    for_each = local.instance_copies_wanted ? [1] : []
    content {
      sid     = "DescribeSnapshotCopies"
      actions = ["rds:DescribeDBSnapshots", "rds:DescribeDBSnapshotAttributes", "rds:ListTagsForResource"]
      # Read-only, every snapshot of the copy regions: copies are listed with the db-instance-id
      # filter (the DBInstanceIdentifier parameter must name an existing instance, and the source
      # is not in the copy region), which names no one snapshot to authorise on.
      resources = flatten([for r in local.copy_regions : ["arn:${local.partition}:rds:${r}:${local.account}:snapshot:*", "arn:${local.partition}:rds:${r}:${local.account}:db:*"]])
    }
  }
  statement {
    sid       = "KmsForManagedSecrets"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"]
    resources = [aws_kms_key.drill.arn]
  }

  dynamic "statement" {
    for_each = length(local.restore_server_secrets) > 0 ? [1] : []
    content {
      sid       = "ReadBackupSets"
      actions   = ["s3:GetObject"]
      resources = ["${aws_s3_bucket.backups.arn}/backups/*"]
    }
  }

  statement {
    sid       = "ListBackupSets"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backups.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["backups/*"]
    }
  }
}

# ---------------------------------------------------------------- validate (and report)

data "aws_iam_policy_document" "validate" {
  source_policy_documents = [
    data.aws_iam_policy_document.lambda_base.json,
    data.aws_iam_policy_document.restore_server_secrets.json,
    data.aws_iam_policy_document.temp_secrets.json,
    data.aws_iam_policy_document.deployment_config.json,
  ]
  statement {
    sid       = "ReadManifestsAndReports"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/backups/*", "${aws_s3_bucket.backups.arn}/reports/*"]
  }

  statement {
    sid       = "WriteReports"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/reports/*"]
  }

  statement {
    sid       = "ListReports"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backups.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["reports/*", "backups/*"]
    }
  }

  statement {
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }

  statement {
    sid       = "Kms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.drill.arn]
  }
}

# ---------------------------------------------------------------- export

data "aws_iam_policy_document" "export" {
  source_policy_documents = [
    data.aws_iam_policy_document.lambda_base.json,
    data.aws_iam_policy_document.restore_server_secrets.json,
    data.aws_iam_policy_document.temp_secrets.json,
    data.aws_iam_policy_document.deployment_config.json,
  ]
  # Write, never delete: new objects whose retention is set with the write (never changed after
  # it: no s3:PutObjectRetention); multipart parts; never an overwrite (If-None-Match, which
  # the bucket policy requires).
  statement {
    sid = "WriteBackupObjects"
    actions = [
      "s3:PutObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.backups.arn}/backups/*"]
  }

  statement {
    sid       = "ListBackups"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backups.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["backups/*"]
    }
  }

  statement {
    sid       = "NeverDeleteBackups"
    effect    = "Deny"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention", "s3:PutBucketObjectLockConfiguration", "s3:PutLifecycleConfiguration"]
    resources = [aws_s3_bucket.backups.arn, "${aws_s3_bucket.backups.arn}/*"]
  }

  statement {
    sid       = "Kms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.drill.arn]
  }
}

# ---------------------------------------------------------------- delete-temp (and janitor)

data "aws_iam_policy_document" "delete_temp" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_base.json, data.aws_iam_policy_document.restore_server_secrets.json, data.aws_iam_policy_document.deployment_config.json]
  statement {
    sid       = "DeleteOnlyTaggedDrillTemps"
    actions   = ["rds:DeleteDBInstance"]
    resources = [local.temp_db_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.temp_tag_key}"
      values   = [local.temp_tag_value]
    }
  }

  statement {
    sid       = "ExpireOnlyDrillSnapshotCopies"
    actions   = ["rds:DeleteDBSnapshot"]
    resources = local.copy_snapshot_arns
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.temp_tag_key}"
      values   = ["snapshot-copy"]
    }
  }

  statement {
    sid       = "ReadOnlyDescribe"
    actions   = ["rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:ListTagsForResource"]
    resources = concat(["${local.rds_arn}:db:*", "${local.rds_arn}:snapshot:*"], flatten([for r in local.copy_regions : ["arn:${local.partition}:rds:${r}:${local.account}:snapshot:*", "arn:${local.partition}:rds:${r}:${local.account}:db:*"]]))
  }

}

locals {
  function_policies = {
    restore     = data.aws_iam_policy_document.restore.json
    validate    = data.aws_iam_policy_document.validate.json
    export      = data.aws_iam_policy_document.export.json
    delete-temp = data.aws_iam_policy_document.delete_temp.json
  }
}

locals {
  # IAM counts a role's inline policies together: at most 10,240 characters, white space not
  # counted. The grants that grow with the sources are managed policies (iam_sources.tf).
  function_inline_sizes = { for k in local.functions : k => sum(concat(
    [length(replace(local.function_policies[k], "/\\s/", ""))],
    [for p in compact([lookup(local.aurora_policies, k, "")]) : length(replace(p, "/\\s/", ""))],
    k == "export" ? [length(replace(data.aws_iam_policy_document.export_units.json, "/\\s/", ""))] : [],
  )) }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.function[each.key].id
  policy   = local.function_policies[each.key]

  lifecycle {
    precondition {
      condition     = local.function_inline_sizes[each.key] <= 10240
      error_message = "The ${each.key} function's inline policies would be ${local.function_inline_sizes[each.key]} characters; IAM allows 10,240 a role."
    }
  }
}
