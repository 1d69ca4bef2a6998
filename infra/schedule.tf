# Nightly trigger: EventBridge starts one execution for the whole fleet of sources.

resource "aws_cloudwatch_event_rule" "nightly" {
  name                = "${var.name}-nightly"
  description         = "Start the restore drill"
  schedule_expression = var.schedule_expression
  state               = var.schedule_enabled ? "ENABLED" : "DISABLED"
}

resource "aws_cloudwatch_event_target" "nightly" {
  rule     = aws_cloudwatch_event_rule.nightly.name
  arn      = aws_sfn_state_machine.drill.arn
  role_arn = aws_iam_role.events.arn
  input    = jsonencode({ sources = local.drill_sources })
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "${var.name}-events"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

data "aws_iam_policy_document" "events" {
  statement {
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.drill.arn]
  }
}

resource "aws_iam_role_policy" "events" {
  name   = "${var.name}-events"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
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
