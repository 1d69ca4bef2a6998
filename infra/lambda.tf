# The four Lambdas (built by `cargo lambda build --release --arm64 --output-format zip`; export.zip
# then by `scripts/pg-binaries package`, which adds pg_dump of the newest PostgreSQL major and its
# libraries under pg_dump/). The report step is an action of the validate function.

locals {
  function_env = {
    restore = {
      DRILL_PREFIX         = var.temp_prefix
      DRILL_INSTANCE_CLASS = join(",", var.temp_instance_classes)
      # The temps' RDS-managed master secrets are encrypted with the drill's key.
      DRILL_SECRET_KMS_KEY_ID = aws_kms_key.drill.arn
      DRILL_SUBNET_GROUP      = aws_db_subnet_group.temp.name
      DRILL_SECURITY_GROUPS   = aws_security_group.temp.id
      DRILL_TEMP_TTL_HOURS    = tostring(var.temp_ttl_hours)
      DRILL_SOURCES           = join(",", concat(local.source_identifiers, local.aurora_cluster_ids))
      DRILL_PROTECTED         = join(",", var.protected_identifiers)
      DRILL_CONFIG_URL        = local.config_url
    }
    validate = {
      DRILL_CONFIG_URL      = local.config_url
      DRILL_REPORTS_URL     = local.reports_url
      DRILL_ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
    }
    export = {
      DRILL_PREFIX     = var.temp_prefix
      DRILL_PG_DUMP    = coalesce(var.pg_dump_path, "/var/task/pg_dump/bin/pg_dump")
      DRILL_CONFIG_URL = local.config_url
    }
    delete-temp = {
      DRILL_PREFIX     = var.temp_prefix
      DRILL_SOURCES    = join(",", concat(local.source_identifiers, local.aurora_cluster_ids))
      DRILL_PROTECTED  = join(",", var.protected_identifiers)
      DRILL_CONFIG_URL = local.config_url
    }
  }
  function_timeout = {
    restore     = 900 # a backup-set restore loads the data inside the invocation
    validate    = 900
    export      = 900
    delete-temp = 120
  }
  function_memory = {
    restore     = 512
    validate    = 256
    export      = 512
    delete-temp = 128
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.drill.arn
}

resource "aws_lambda_function" "function" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Step Functions, which retries and catches every failure; a DLQ would never receive anything.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; zips are built reproducibly from this repository.
  for_each      = local.functions
  function_name = "${var.name}-${each.key}"
  description   = "restore-drill ${each.key}"
  role          = aws_iam_role.function[each.key].arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.lambda_architecture]
  filename      = "${var.lambda_zip_dir}/${each.key}.zip"

  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/${each.key}.zip")
  timeout          = local.function_timeout[each.key]
  memory_size      = local.function_memory[each.key]
  # Unreserved by default: Lambda keeps 100 executions unreserved per account, so an account with
  # the small quota new accounts get cannot reserve any, and the apply would fail.
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = aws_kms_key.drill.arn
  layers                         = each.key == "export" ? var.pg_dump_layer_arns : []

  environment {
    variables = merge(local.function_env[each.key], {
      RUST_LOG    = "info"
      DRILL_STACK = var.name
    })
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
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }
}
