# The nightly drill: ASL template in statemachine/, ARNs and settings filled in here.

locals {
  max_status_polls = 600
}

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.drill.arn
}

resource "aws_sfn_state_machine" "drill" {
  #checkov:skip=CKV_AWS_285:Execution data is deliberately not logged: states carry check results and values read from production data; errors are logged, and the reports in S3 hold the details.
  name     = var.name
  role_arn = aws_iam_role.state_machine.arn
  definition = templatefile("${path.module}/../statemachine/drill.asl.json", {
    restore_function_arn     = aws_lambda_function.function["restore"].arn
    validate_function_arn    = aws_lambda_function.function["validate"].arn
    export_function_arn      = aws_lambda_function.function["export"].arn
    delete_temp_function_arn = aws_lambda_function.function["delete-temp"].arn
    report_function_arn      = aws_lambda_function.function["validate"].arn
    wait_seconds             = var.wait_seconds
    restore_budget_seconds   = var.restore_budget_seconds
    max_concurrency          = var.max_concurrency
    unit_concurrency         = local.unit_concurrency
    # The Distributed Map's results go under reports/ of the drill bucket: outside backups/,
    # where the bucket policy demands write-once, locked puts the ResultWriter does not make.
    map_results_bucket = aws_s3_bucket.backups.bucket
    map_results_prefix = local.map_results_prefix
  })

  logging_configuration {
    log_destination = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    # Errors only, without execution data: states carry check results and query values of
    # production data, which do not belong in a log group. The reports in S3 hold the details.
    include_execution_data = false
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = true
  }

  # Every status poll adds its events to the source's child execution (a Wait, the status task
  # and its retries, the Choice, maybe the secret step: at most 32 events). A Standard execution
  # fails at 25,000 events, so the budget may allow at most local.max_status_polls polls
  # (README "Many sources": the arithmetic; tests/tests/e2e_fleet_history.rs reads this limit).
  lifecycle {
    precondition {
      condition     = ceil(var.restore_budget_seconds / var.wait_seconds) <= local.max_status_polls
      error_message = "restore_budget_seconds / wait_seconds allows more than ${local.max_status_polls} status polls: a source's execution history could pass Step Functions' 25,000 events. Wait longer between polls."
    }
  }
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${var.name}-state-machine"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "InvokeDrillFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [for f in aws_lambda_function.function : f.arn]
  }

  statement {
    sid = "DeliverLogs"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"] # these log-delivery APIs do not support resource-level permissions
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"] # X-Ray does not support resource-level permissions
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "${var.name}-state-machine"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}
