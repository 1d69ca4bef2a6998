# The backup bucket: logical backup sets and drill reports. Object Lock (COMPLIANCE by default)
# means no one — not this stack, not an administrator, not a stale-state `terraform destroy` —
# can delete or overwrite a backup before its retention ends.

resource "aws_s3_bucket" "backups" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is an operator choice (needs a second region's bucket); Object Lock already makes the copy immutable.
  #checkov:skip=CKV_AWS_18:Server access logging needs a separate log bucket; use CloudTrail S3 data events for an audit trail.
  #checkov:skip=CKV2_AWS_62:No consumer for event notifications; the drill report and alarms cover freshness.
  bucket_prefix       = "${var.name}-backups-"
  object_lock_enabled = true

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "backups" {
  bucket = aws_s3_bucket.backups.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id
  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.object_lock_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.backups]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.drill.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "backups" {
  bucket                  = aws_s3_bucket.backups.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    id     = "age-out-backups"
    status = "Enabled"
    filter {
      prefix = "backups/"
    }
    transition {
      days          = var.backup_transition_days
      storage_class = "GLACIER_IR"
    }
    expiration {
      days = var.backup_expiration_days
    }
    # A version becomes noncurrent only when a newer one is written over its key; keep it at
    # least as long as a lock, so a purge can never come before the retention a backup had.
    noncurrent_version_expiration {
      noncurrent_days = var.object_lock_days
    }
  }

  rule {
    id     = "keep-reports"
    status = "Enabled"
    filter {
      prefix = "reports/"
    }
    expiration {
      days = var.backup_expiration_days
    }
  }

  # An export that died mid-upload leaves parts that are neither a backup nor visible: drop them.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }

  depends_on = [aws_s3_bucket_versioning.backups]
}

data "aws_iam_policy_document" "backups_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.backups.arn,
      "${aws_s3_bucket.backups.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Even a principal whose IAM policy allows it cannot shorten or bypass retention.
  statement {
    sid       = "DenyRetentionBypass"
    effect    = "Deny"
    actions   = ["s3:BypassGovernanceRetention", "s3:PutObjectLegalHold"]
    resources = ["${aws_s3_bucket.backups.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }

  # Backups are written once: every PutObject and CompleteMultipartUpload under backups/ must
  # carry If-None-Match (the steps of a multipart upload take no conditional header and are
  # exempt by s3:ObjectCreationOperation, as AWS documents for enforcing conditional writes).
  statement {
    sid       = "DenyOverwritingBackups"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/backups/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["true"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "s3:ObjectCreationOperation"
      values   = ["CreateMultipartUpload", "UploadPart", "UploadPartCopy"]
    }
  }

  # A write that names its own retention must name COMPLIANCE and at least the configured days;
  # one that names none gets the bucket's default (COMPLIANCE, the configured days).
  statement {
    sid       = "DenyWeakerRetention"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/backups/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:object-lock-mode"
      values   = ["COMPLIANCE"]
    }
  }
  statement {
    sid       = "DenyShorterRetention"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/backups/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThanIfExists"
      variable = "s3:object-lock-remaining-retention-days"
      values   = [tostring(var.object_lock_days)]
    }
  }
}

resource "aws_s3_bucket_policy" "backups" {
  bucket = aws_s3_bucket.backups.id
  policy = data.aws_iam_policy_document.backups_bucket.json
}
