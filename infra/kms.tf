# One customer-managed key for the drill's data at rest: backup objects, reports, logs, alerts,
# the temps' managed master secrets.
#
# The locked backups are encrypted with it and outlive the stack (Object Lock), so the key must
# too: once it is deleted, every locked backup is unreadable. Hence prevent_destroy (the
# documented retirement path hands it out of Terraform's state with the bucket), and a key policy
# in which only the break-glass principal may schedule its deletion, disable it, or change the
# policy that says so.

locals {
  kms_break_glass_principal = coalesce(var.kms_break_glass_principal_arn, "arn:${local.partition}:iam::${local.account}:root")
  kms_retirement_actions    = ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"]
}

resource "aws_kms_key" "drill" {
  description             = "${var.name}: backups, reports, logs and alerts"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  # KMS refuses a policy that denies the creator PutKeyPolicy (the lockout safety check) unless
  # told this is deliberate: it is, the break-glass principal keeps PutKeyPolicy.
  bypass_policy_lockout_safety_check = true

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "drill" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.drill.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only; the account delegates to IAM, the AWS-recommended default.
  #checkov:skip=CKV_AWS_356:Key policy: "*" means this key only.
  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only; the account delegates to IAM.
  statement {
    sid       = "AccountAdministersKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  # Explicit deny beats the account's Allow above: nobody but the break-glass principal can
  # retire the key, not even an administrator of this account.
  statement {
    sid       = "OnlyBreakGlassMayRetireTheKey"
    effect    = "Deny"
    actions   = local.kms_retirement_actions
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [local.kms_break_glass_principal]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:*"]
    }
  }

  statement {
    sid       = "AlarmsPublishEncryptedAlerts"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}
