# Guardrails for automation principals (CI, coding agents): attach to such a role, or set as its
# permissions boundary (as_permissions_boundary = true). Every statement is a Deny, so no other
# policy can grant these actions back. IAM has no condition key for "this ModifyDBInstance turns
# deletion protection off", so weakening a database is stopped by denying modifications of every
# database that is not a drill temp: production changes go through a person's role, after
# `drill plan-check`.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  tag = "aws:ResourceTag/${var.drill_tag_key}"

  state_bucket_statements = var.state_bucket_arn == null ? [] : [
    {
      sid       = "NeverDeleteStateFiles"
      actions   = ["s3:DeleteObject"]
      resources = [for p in var.state_object_patterns : "${var.state_bucket_arn}/${p}"]
    },
    {
      # With versioning, DeleteObject only adds a delete marker; deleting versions destroys.
      sid       = "NeverDeleteStateVersions"
      actions   = ["s3:DeleteObjectVersion"]
      resources = ["${var.state_bucket_arn}/*"]
    },
    {
      sid = "NeverWeakenTheStateBucket"
      actions = [
        "s3:DeleteBucket",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:PutLifecycleConfiguration",
      ]
      resources = [var.state_bucket_arn]
    },
  ]

  policy_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:policy${var.path}${var.name}"
}

data "aws_iam_policy_document" "guardrails" {
  dynamic "statement" {
    for_each = var.as_permissions_boundary ? [1] : []
    content {
      sid       = "BoundaryAllowsTheRest"
      actions   = ["*"]
      resources = ["*"]
    }
  }

  # Databases: only drill temps (tagged) may be deleted or modified.
  statement {
    sid    = "NeverDeleteOrModifyNonDrillDatabases"
    effect = "Deny"
    actions = [
      "rds:DeleteDBCluster",
      "rds:DeleteDBInstance",
      "rds:ModifyDBCluster",
      "rds:ModifyDBInstance",
    ]
    resources = ["*"]
    # Negated operator: true when the tag is missing, so untagged resources are denied too.
    condition {
      test     = "StringNotEquals"
      variable = local.tag
      values   = var.drill_temp_tag_values
    }
  }

  # Snapshots: only the drill's own copies may be deleted or have their sharing changed.
  statement {
    sid    = "NeverDeleteOrShareNonDrillSnapshots"
    effect = "Deny"
    actions = [
      "rds:DeleteDBClusterSnapshot",
      "rds:DeleteDBSnapshot",
      "rds:ModifyDBClusterSnapshotAttribute",
      "rds:ModifyDBSnapshotAttribute",
    ]
    resources = ["*"]
    condition {
      test     = "StringNotEquals"
      variable = local.tag
      values   = var.drill_snapshot_tag_values
    }
  }

  # Retained automated backups outlive their instance: automation never deletes them.
  statement {
    sid       = "NeverDeleteRetainedAutomatedBackups"
    effect    = "Deny"
    actions   = ["rds:DeleteDBInstanceAutomatedBackup", "rds:DeleteDBClusterAutomatedBackup"]
    resources = ["*"]
  }

  # Without this, an automation could tag production as a drill temp and then delete it.
  statement {
    sid       = "NeverSetOrRemoveTheDrillTag"
    effect    = "Deny"
    actions   = ["rds:AddTagsToResource", "rds:RemoveTagsFromResource"]
    resources = ["*"]
    # Condition key names, and so the tag key in aws:ResourceTag/<key>, match regardless of case,
    # while StringEquals on aws:TagKeys would not: "DRILL-TEMP" must be refused as well.
    condition {
      test     = "ForAnyValue:StringEqualsIgnoreCase"
      variable = "aws:TagKeys"
      values   = [var.drill_tag_key]
    }
  }

  dynamic "statement" {
    for_each = length(var.backup_bucket_arns) > 0 ? [1] : []
    content {
      sid    = "NeverDeleteOrWeakenBackupBuckets"
      effect = "Deny"
      actions = [
        "s3:DeleteBucket",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:PutLifecycleConfiguration",
      ]
      resources = var.backup_bucket_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.backup_bucket_arns) > 0 ? [1] : []
    content {
      sid    = "NeverDeleteBackupVersionsOrBypassRetention"
      effect = "Deny"
      actions = [
        "s3:BypassGovernanceRetention",
        "s3:DeleteObjectVersion",
      ]
      resources = [for b in var.backup_bucket_arns : "${b}/*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.backup_kms_key_arns) > 0 ? [1] : []
    content {
      sid    = "NeverDeleteOrDisableBackupKeys"
      effect = "Deny"
      actions = [
        "kms:DeleteImportedKeyMaterial",
        "kms:DisableKey",
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
      ]
      resources = var.backup_kms_key_arns
    }
  }

  dynamic "statement" {
    for_each = local.state_bucket_statements
    content {
      sid       = statement.value.sid
      effect    = "Deny"
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  # The automation must not lift its own guardrails.
  statement {
    sid    = "NeverEditTheseGuardrails"
    effect = "Deny"
    actions = [
      "iam:CreatePolicyVersion",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:SetDefaultPolicyVersion",
    ]
    resources = [local.policy_arn]
  }

  # ... nor detach them, or drop them as a boundary, from any role, user or group (its own
  # included), whether or not protected_role_arns lists it.
  statement {
    sid    = "NeverDetachTheseGuardrails"
    effect = "Deny"
    actions = [
      "iam:DetachGroupPolicy",
      "iam:DetachRolePolicy",
      "iam:DetachUserPolicy",
    ]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [local.policy_arn]
    }
  }

  # No principal loses its boundary through the automation: with this boundary dropped (or any
  # other), a role the automation can pass or assume would act without guardrails.
  statement {
    sid    = "NeverDropABoundary"
    effect = "Deny"
    actions = [
      "iam:DeleteRolePermissionsBoundary",
      "iam:DeleteUserPermissionsBoundary",
    ]
    resources = ["*"]
  }

  # Roles and users the automation creates, or re-bounds, carry these guardrails as their
  # boundary; otherwise it could create an unguarded role and act through it. A negated operator
  # is true when the key is absent, so a create without any boundary is denied too.
  statement {
    sid    = "OnlyThisBoundaryOnNewOrReboundedPrincipals"
    effect = "Deny"
    actions = [
      "iam:CreateRole",
      "iam:CreateUser",
      "iam:PutRolePermissionsBoundary",
      "iam:PutUserPermissionsBoundary",
    ]
    resources = ["*"]
    condition {
      test     = "ArnNotEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.policy_arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.protected_role_arns) > 0 ? [1] : []
    content {
      sid    = "NeverLiftTheBoundaryOfGuardedRoles"
      effect = "Deny"
      actions = [
        "iam:DeleteRolePermissionsBoundary",
        "iam:DetachRolePolicy",
        "iam:PutRolePermissionsBoundary",
      ]
      resources = var.protected_role_arns
    }
  }
}

resource "aws_iam_policy" "guardrails" {
  count       = var.create_policy ? 1 : 0
  name        = var.name
  path        = var.path
  description = "Denies automation deleting or weakening databases, snapshots, backups, backup keys and Terraform state."
  policy      = data.aws_iam_policy_document.guardrails.json
  tags        = var.tags
}
