# Least privilege for the people (or the on-call tooling) who operate the drill with
# `drill aws run|status|history`: start and read executions of this state machine, read the run
# reports. Separate from the functions' roles; attach it to an operator role or group.
locals {
  operator_states_arn    = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  operator_execution_arn = "${local.operator_states_arn}:execution:${aws_sfn_state_machine.drill.name}:*"
}

data "aws_iam_policy_document" "operator" {
  statement {
    sid       = "StartAndListExecutions"
    actions   = ["states:StartExecution", "states:ListExecutions"]
    resources = [aws_sfn_state_machine.drill.arn]
  }

  statement {
    sid       = "ReadExecutions"
    actions   = ["states:DescribeExecution", "states:GetExecutionHistory"]
    resources = [local.operator_execution_arn]
  }

  # Each source runs as a child execution of the `Sources` Map Run: progress lists the execution's
  # Map Runs (ListMapRuns: the execution is the resource), their children (ListExecutions with a
  # map run: the mapRun resource, mapRun:<machine>/<label>:<id>) and reads each child's history
  # (execution:<machine>/<label>:<id>).
  statement {
    sid       = "ListMapRuns"
    actions   = ["states:ListMapRuns"]
    resources = [local.operator_execution_arn]
  }

  statement {
    sid       = "ListMapRunChildren"
    actions   = ["states:ListExecutions"]
    resources = ["${local.operator_states_arn}:mapRun:${aws_sfn_state_machine.drill.name}/*"]
  }

  statement {
    sid       = "ReadMapRunChildren"
    actions   = ["states:GetExecutionHistory"]
    resources = ["${local.operator_states_arn}:execution:${aws_sfn_state_machine.drill.name}/*"]
  }

  statement {
    sid       = "ListReports"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backups.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["reports/*"]
    }
  }

  statement {
    sid       = "ReadReports"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/reports/*"]
  }

  # The bucket is encrypted with the drill key: reading a report decrypts through S3 only.
  statement {
    sid       = "DecryptReportsThroughS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.drill.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}
