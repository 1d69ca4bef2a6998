# Alerts: a failed execution, and — the alarm that catches a drill that silently stopped running —
# no passed drill for 26 hours.

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = aws_kms_key.drill.arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alert_emails)
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "execution_failed" {
  alarm_name          = "${var.name}-execution-failed"
  alarm_description   = "A restore drill execution failed, timed out or was aborted."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.drill.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

# The validate function's report step emits DrillPassed (Embedded Metric Format) once per source
# and night. No datapoint for 26 hourly periods means no drill passed for 26 hours.
resource "aws_cloudwatch_metric_alarm" "no_recent_success" {
  alarm_name          = "${var.name}-no-passed-drill-26h"
  alarm_description   = "No restore drill has passed in the last 26 hours: the backups are unproven."
  namespace           = "RestoreDrill"
  metric_name         = "DrillPassed"
  dimensions          = { Stack = var.name }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 26
  datapoints_to_alarm = 26
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}
