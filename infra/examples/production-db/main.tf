# What a production PostgreSQL instance should look like so that the 2026 incident cannot repeat:
# it lives in its own Terraform state (never in the drill's), refuses `terraform destroy`, refuses
# deletion through the API, takes a final snapshot if it is ever deleted, and keeps its automated
# backups after deletion. restore-drill then proves every night that those backups restore.

provider "aws" {
  region = var.region
}

resource "aws_db_instance" "production" {
  identifier     = var.identifier
  engine         = "postgres"
  engine_version = "16"
  instance_class = var.instance_class

  allocated_storage     = 100
  max_allocated_storage = 1000
  storage_type          = "gp3"
  storage_encrypted     = true

  username                    = "app_admin"
  manage_master_user_password = true # the password lives in Secrets Manager, never in state
  db_name                     = "app"

  db_subnet_group_name   = var.subnet_group_name
  vpc_security_group_ids = var.security_group_ids
  publicly_accessible    = false
  multi_az               = true

  # Layered protection against deletion.
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.identifier}-final"
  delete_automated_backups  = false
  backup_retention_period   = var.backup_retention_days
  backup_window             = "01:00-02:00"
  copy_tags_to_snapshot     = true

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = var.kms_key_arn
  kms_key_id                          = var.kms_key_arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = var.monitoring_role_arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  parameter_group_name                = aws_db_parameter_group.production.name

  tags = {
    "restore-drill:source" = var.identifier
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_db_parameter_group" "production" {
  name_prefix = "${var.identifier}-"
  family      = "postgres16"

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
}
