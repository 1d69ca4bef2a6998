# Temporary instances live in private subnets, reachable only from the drill's Lambdas.

resource "aws_db_subnet_group" "temp" {
  name        = "${var.name}-temp"
  description = "Private subnets for restore-drill temporary instances"
  subnet_ids  = var.subnet_ids
}

resource "aws_security_group" "lambda" {
  name        = "${var.name}-lambda"
  description = "restore-drill Lambdas: PostgreSQL to temporary instances, HTTPS to AWS APIs"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "temp" {
  #checkov:skip=CKV2_AWS_5:Attached at restore time to the temporary instances the restore Lambda creates.
  name        = "${var.name}-temp"
  description = "restore-drill temporary instances: PostgreSQL from the drill Lambdas only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "temp_from_lambda" {
  security_group_id            = aws_security_group.temp.id
  description                  = "PostgreSQL from the drill Lambdas"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.lambda.id
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_temp" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "PostgreSQL to temporary instances"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.temp.id
}

resource "aws_vpc_security_group_egress_rule" "lambda_https" {
  security_group_id = aws_security_group.lambda.id
  description       = "HTTPS to AWS APIs (through VPC endpoints or NAT)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_restore_servers" {
  for_each          = toset(var.restore_server_cidrs)
  security_group_id = aws_security_group.lambda.id
  description       = "PostgreSQL to a backup-set restore server"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = each.value
}
