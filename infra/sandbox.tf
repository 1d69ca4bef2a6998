# Sandboxes (issue 18): on-demand copies of production restored from the newest validated backup,
# owned by whoever asked (the principal STS confirms for the caller's signed GetCallerIdentity).
# Two functions of their own: "sandbox" (the restore binary: create, list, connect) and
# "sandbox-delete" (the delete-temp binary: delete, janitor), both DRILL_SANDBOX_ONLY, so that
# who may invoke them can do nothing else, and their roles reach sandbox-tagged rsbx-* instances
# only. The drill's own functions get no sandbox rights, nor these any on drill temps.

variable "sandbox_prefix" {
  description = "Identifier prefix of sandbox instances (not the temps' prefix)."
  type        = string
  default     = "rsbx-"
}

variable "sandbox_max_ttl_hours" {
  description = "The longest a sandbox may live (the caller's --ttl is refused above it)."
  type        = number
  default     = 8
  validation {
    condition     = var.sandbox_max_ttl_hours >= 1 && var.sandbox_max_ttl_hours <= 72
    error_message = "sandbox_max_ttl_hours must be 1 to 72."
  }
}

variable "sandbox_janitor_schedule_expression" {
  description = "How often expired sandboxes are swept: a sandbox outlives its expiry by at most this period."
  type        = string
  default     = "rate(15 minutes)"
}

locals {
  sandbox_tag_value = "sandbox" # drill_core::sandbox::ROLE_SANDBOX
  sandbox_db_arn    = "${local.rds_arn}:db:${var.sandbox_prefix}*"
  # Backup-set sandboxes' role credentials (drill_core::sandboxdb::secret_name); Secrets Manager
  # appends "-" and 6 characters to the name in the ARN.
  sandbox_secret_prefix = "${var.name}/sandbox/"
  sandbox_secret_arn    = "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${local.sandbox_secret_prefix}${var.sandbox_prefix}sbx-*"
  sandbox_functions = {
    sandbox        = "restore"
    sandbox-delete = "delete-temp"
  }
  sandbox_env = {
    DRILL_SANDBOX_ONLY          = "true"
    DRILL_SANDBOX_PREFIX        = var.sandbox_prefix
    DRILL_SANDBOX_SECRET_PREFIX = local.sandbox_secret_prefix
    DRILL_SANDBOX_MAX_TTL_HOURS = tostring(var.sandbox_max_ttl_hours)
    DRILL_STS_REGION            = local.region
    DRILL_STS_ENDPOINT          = "https://sts.${local.region}.amazonaws.com"
    DRILL_REPORTS_URL           = local.reports_url
    DRILL_SANDBOX_REPORTS_URL   = "s3://${aws_s3_bucket.backups.bucket}/sandboxes"
    DRILL_CONFIG_URL            = local.config_url
    DRILL_INSTANCE_CLASS        = join(",", var.temp_instance_classes)
    DRILL_SUBNET_GROUP          = aws_db_subnet_group.temp.name
    DRILL_SECURITY_GROUPS       = aws_security_group.temp.id
    DRILL_SOURCES               = join(",", local.source_identifiers)
    DRILL_PROTECTED             = join(",", var.protected_identifiers)
  }
}

data "aws_iam_policy_document" "sandbox" {
  # restore_server_secrets: backup-set sandboxes are databases on their source's restore server.
  source_policy_documents = [data.aws_iam_policy_document.lambda_base.json, data.aws_iam_policy_document.deployment_config.json, data.aws_iam_policy_document.restore_server_secrets.json]
  # Restoring a source's snapshot into a sandbox names the sources: managed policies below.

  statement {
    sid       = "TagOnlySandboxesAtCreation"
    actions   = ["rds:AddTagsToResource"]
    resources = [local.sandbox_db_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["drill:*"]
    }
  }

  # Only to turn on the sandbox's RDS-managed master secret (ManageMasterUserPassword).
  statement {
    sid       = "ManageSecretOfSandboxesOnly"
    actions   = ["rds:ModifyDBInstance"]
    resources = [local.sandbox_db_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
  }

  statement {
    sid       = "RdsManagedSecretCreationForSandboxesOnly"
    actions   = ["secretsmanager:CreateSecret"]
    resources = [local.managed_secret_arn]
    condition {
      test     = "StringLike"
      variable = "aws:RequestTag/aws:rds:primaryDBInstanceArn"
      values   = [local.sandbox_db_arn]
    }
  }

  # A backup-set sandbox's role credentials: a secret of its own, created tagged as a sandbox's
  # (CreateSecret with tags needs TagResource too: CreateSecret API reference).
  statement {
    sid       = "CreateBackupSetSandboxSecrets"
    actions   = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
    resources = [local.sandbox_secret_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["drill:*"]
    }
  }

  # sandbox_diff reads a backup-set sandbox as its own role, never as the server's admin.
  statement {
    sid       = "ReadBackupSetSandboxSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.sandbox_secret_arn]
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:ResourceTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
  }

  # A create whose secret failed drops the sandbox and deletes what it made.
  statement {
    sid       = "DeleteOwnBackupSetSandboxSecrets"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:DeleteSecret"]
    resources = [local.sandbox_secret_arn]
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:ResourceTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
  }

  # sandbox_diff: the function connects to the caller's sandbox as its master user (the
  # RDS-managed secret of sandbox instances only), makes the base copy, diffs, and writes the
  # report under sandboxes/ (that prefix only; it reads no other object it writes).
  statement {
    sid       = "ReadSecretsOfSandboxesOnly"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.managed_secret_arn]
    condition {
      test     = "StringLike"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [local.sandbox_db_arn]
    }
  }

  statement {
    sid       = "WriteSandboxDiffReports"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/sandboxes/*"]
  }

  # A backup-set sandbox is restored from the set a drill validated, under backups/.
  statement {
    sid       = "ReadBackupSetsForSandboxes"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/backups/*"]
  }

  statement {
    sid       = "ReadRunReports"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/reports/*"]
  }

  statement {
    sid       = "ListRunReports"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backups.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["reports/*"]
    }
  }

  statement {
    sid       = "ReadOnlyDescribe"
    actions   = ["rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:ListTagsForResource"]
    resources = ["${local.rds_arn}:db:*", "${local.rds_arn}:snapshot:*"]
  }
}

data "aws_iam_policy_document" "sandbox_delete" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_base.json, data.aws_iam_policy_document.deployment_config.json, data.aws_iam_policy_document.restore_server_secrets.json]
  statement {
    sid       = "DeleteBackupSetSandboxSecrets"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:DeleteSecret"]
    resources = [local.sandbox_secret_arn]
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:ResourceTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
  }

  statement {
    sid       = "DeleteOnlyTaggedSandboxes"
    actions   = ["rds:DeleteDBInstance"]
    resources = [local.sandbox_db_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
  }

  statement {
    sid       = "ReadOnlyDescribe"
    actions   = ["rds:DescribeDBInstances", "rds:ListTagsForResource"]
    resources = ["${local.rds_arn}:db:*"]
  }
}

resource "aws_iam_role" "sandbox" {
  for_each           = local.sandbox_functions
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# The sandbox function's restore grant, naming each rds-snapshot source's snapshots: managed
# policies of eight sources each (IAM: 10,240 characters a role's inline policies, 6,144 a managed
# policy; see iam_sources.tf), only into drill-named sandboxes carrying the sandbox tag.
locals {
  sandbox_chunks = chunklist(local.source_identifiers, 2 * local.sources_per_policy)
}

data "aws_iam_policy_document" "sandbox_sources" {
  count = length(local.sandbox_chunks)
  statement {
    sid     = "RestoreOnlyIntoTaggedSandboxes"
    actions = ["rds:RestoreDBInstanceFromDBSnapshot"]
    # The sources' snapshots (iam.tf: instance_snapshot_arns), and the drill's own copies.
    resources = concat(
      [local.sandbox_db_arn, "${local.rds_arn}:subgrp:${aws_db_subnet_group.temp.name}", "${local.rds_arn}:og:*", "${local.rds_arn}:pg:*", "${local.rds_arn}:snapshot:${var.temp_prefix}*"],
      flatten([for id in local.sandbox_chunks[count.index] : local.instance_snapshot_arns[id]]),
    )
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
  }
}

resource "aws_iam_policy" "sandbox_sources" {
  count       = length(local.sandbox_chunks)
  name        = "${var.name}-sandbox-sources-${count.index}"
  description = "restore-drill: the sandbox function's restore grant on the snapshots of ${join(", ", local.sandbox_chunks[count.index])}"
  policy      = data.aws_iam_policy_document.sandbox_sources[count.index].json

  lifecycle {
    precondition {
      condition     = length(replace(data.aws_iam_policy_document.sandbox_sources[count.index].json, "/\\s/", "")) <= 6144
      error_message = "The sandbox function's grant on ${join(", ", local.sandbox_chunks[count.index])} exceeds IAM's 6,144 characters for a managed policy."
    }
  }
}

resource "aws_iam_role_policy_attachment" "sandbox_sources" {
  count      = length(local.sandbox_chunks)
  role       = aws_iam_role.sandbox["sandbox"].name
  policy_arn = aws_iam_policy.sandbox_sources[count.index].arn
}

resource "aws_iam_role_policy" "sandbox" {
  for_each = local.sandbox_functions
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.sandbox[each.key].id
  policy   = each.key == "sandbox" ? data.aws_iam_policy_document.sandbox.json : data.aws_iam_policy_document.sandbox_delete.json

  lifecycle {
    # IAM's 10,240 characters a role (white space not counted).
    precondition {
      condition     = length(replace(each.key == "sandbox" ? data.aws_iam_policy_document.sandbox.json : data.aws_iam_policy_document.sandbox_delete.json, "/\\s/", "")) <= 10240
      error_message = "The ${each.key} function's inline policy would exceed IAM's 10,240 characters a role."
    }
  }
}

resource "aws_cloudwatch_log_group" "sandbox" {
  for_each          = local.sandbox_functions
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.drill.arn
}

resource "aws_lambda_function" "sandbox" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by the drill CLI, which reports every failure; a DLQ would never receive anything.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; zips are built reproducibly from this repository.
  for_each      = local.sandbox_functions
  function_name = "${var.name}-${each.key}"
  description   = "restore-drill ${each.key}"
  role          = aws_iam_role.sandbox[each.key].arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.lambda_architecture]
  filename      = "${var.lambda_zip_dir}/${each.value}.zip"

  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/${each.value}.zip")
  # The diff runs in the sandbox function: Lambda's longest invocation (900 s; the diff stops at
  # DRILL_SANDBOX_DIFF_BUDGET_SECONDS and says "incomplete"), and CPU for hashing rows.
  timeout                        = each.key == "sandbox" ? 900 : 60
  memory_size                    = each.key == "sandbox" ? 512 : 128
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = aws_kms_key.drill.arn

  environment {
    variables = merge(local.sandbox_env, { RUST_LOG = "info", DRILL_STACK = var.name })
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.sandbox[each.key].name
  }
}

resource "aws_cloudwatch_event_rule" "sandbox_janitor" {
  name                = "${var.name}-sandbox-janitor"
  description         = "Delete expired restore-drill sandboxes"
  schedule_expression = var.sandbox_janitor_schedule_expression
  state               = var.schedule_enabled ? "ENABLED" : "DISABLED"
}

resource "aws_cloudwatch_event_target" "sandbox_janitor" {
  rule  = aws_cloudwatch_event_rule.sandbox_janitor.name
  arn   = aws_lambda_function.sandbox["sandbox-delete"].arn
  input = jsonencode({ action = "sandbox_janitor" })
}

resource "aws_lambda_permission" "sandbox_janitor" {
  statement_id  = "AllowSandboxJanitorSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.sandbox["sandbox-delete"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sandbox_janitor.arn
}

# What a sandbox user needs: invoke the two sandbox functions, and read RDS-managed secrets of
# sandboxes and backup-set sandboxes' secrets (for `connect`). IAM cannot compare the instance's drill:owner tag with the caller
# here (the secret carries only aws:rds:primaryDBInstanceArn), so any sandbox user can read any
# sandbox's secret: grant it to the people who may use production copies at all.
data "aws_iam_policy_document" "sandbox_user" {
  statement {
    sid       = "InvokeSandboxFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [for f in aws_lambda_function.sandbox : f.arn]
  }

  statement {
    sid       = "ReadSandboxSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.managed_secret_arn]
    condition {
      test     = "StringLike"
      variable = "aws:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [local.sandbox_db_arn]
    }
  }

  # Only the owner's: the function tags the secret with STS's UserId of whoever asked, which
  # is aws:userid in that caller's own requests.
  statement {
    sid       = "ReadOwnBackupSetSandboxSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.sandbox_secret_arn]
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:ResourceTag/${local.temp_tag_key}"
      values   = [local.sandbox_tag_value]
    }
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:ResourceTag/drill:owner-id"
      values   = ["$${aws:userid}"]
    }
  }
}

output "sandbox_function_name" {
  value = aws_lambda_function.sandbox["sandbox"].function_name
}

output "sandbox_delete_function_name" {
  value = aws_lambda_function.sandbox["sandbox-delete"].function_name
}

output "sandbox_user_policy_json" {
  description = "Attach to the IAM users or roles who may make sandboxes (drill aws sandbox ...)."
  value       = data.aws_iam_policy_document.sandbox_user.json
}
