# Nightly trigger: EventBridge Scheduler starts one execution for the whole fleet. Its input
# names no source (every configured source runs) and carries no configuration: that lives in the
# deployment configuration the functions read (main.tf), so the input stays far below the
# target's 8,192-character limit however many sources there are.

resource "aws_scheduler_schedule" "nightly" {
  #checkov:skip=CKV_AWS_297:The schedule's only data is its input `{}` (no configuration, no secret); a customer managed key would protect nothing.
  name                         = "${var.name}-nightly"
  description                  = "Start the restore drill"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = var.schedule_enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.drill.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({})
    retry_policy {
      maximum_retry_attempts = 3
    }
  }
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.drill.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "${var.name}-scheduler"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# The janitor: hourly, delete-temp deletes drill temps whose expires-at has passed (left by a run
# that died), through the same guards as every other delete.
resource "aws_cloudwatch_event_rule" "janitor" {
  name                = "${var.name}-janitor"
  description         = "Delete expired restore-drill temporary instances"
  schedule_expression = var.janitor_schedule_expression
  state               = var.schedule_enabled ? "ENABLED" : "DISABLED"
}

resource "aws_cloudwatch_event_target" "janitor" {
  rule  = aws_cloudwatch_event_rule.janitor.name
  arn   = aws_lambda_function.function["delete-temp"].arn
  input = jsonencode({ action = "janitor" })
}

resource "aws_lambda_permission" "janitor" {
  statement_id  = "AllowJanitorSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["delete-temp"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.janitor.arn
}
