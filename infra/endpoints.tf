# A network path from the Lambdas to every AWS API they call. The Lambdas run in private subnets,
# where nothing is reachable without a NAT gateway or VPC endpoints: S3 through a gateway
# endpoint, every other API the functions' roles grant (iam.tf) through an interface endpoint
# with private DNS, behind its own security group. Skipped when the subnets already have NAT.
# ec2 and logs need no route: Lambda itself manages the functions' network interfaces and ships
# their output to CloudWatch Logs.

variable "subnets_have_nat" {
  description = "The subnets reach AWS APIs through a NAT gateway already: no VPC endpoints are created."
  type        = bool
  default     = false
}

variable "endpoint_route_table_ids" {
  description = "Route tables of the subnets, for the S3 gateway endpoint. Default: every route table of the VPC."
  type        = list(string)
  default     = []
}

variable "rds_reachable_regions" {
  description = "Other regions whose RDS API the subnets reach without NAT (e.g. through a peered VPC with an RDS interface endpoint and its DNS). A snapshot_copy to another region calls that region's RDS API: it needs NAT (subnets_have_nat) or its region listed here."
  type        = list(string)
  default     = []
}

locals {
  endpoints_wanted = !var.subnets_have_nat
  # Interface endpoints: one per API service the functions call besides S3 (sts for the SDK's
  # credential and identity calls).
  interface_endpoint_services = local.endpoints_wanted ? ["rds", "secretsmanager", "sns", "kms", "sts", "xray"] : []
  cross_region_copies         = [for r in local.copy_regions : r if r != local.region]
  unreachable_copy_regions    = var.subnets_have_nat ? [] : tolist(setsubtract(local.cross_region_copies, var.rds_reachable_regions))
}

data "aws_route_tables" "vpc" {
  count  = local.endpoints_wanted && length(var.endpoint_route_table_ids) == 0 ? 1 : 0
  vpc_id = var.vpc_id
}

resource "aws_security_group" "endpoints" {
  count       = local.endpoints_wanted ? 1 : 0
  name        = "${var.name}-endpoints"
  description = "restore-drill VPC endpoints: HTTPS from the drill Lambdas only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_lambda" {
  count                        = local.endpoints_wanted ? 1 : 0
  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the drill Lambdas"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.lambda.id
}

resource "aws_vpc_endpoint" "s3" {
  count             = local.endpoints_wanted ? 1 : 0
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = length(var.endpoint_route_table_ids) > 0 ? var.endpoint_route_table_ids : data.aws_route_tables.vpc[0].ids
  tags              = { Name = "${var.name}-s3" }
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = toset(local.interface_endpoint_services)
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids # one subnet per AZ, as interface endpoints require
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true
  tags                = { Name = "${var.name}-${each.key}" }
}

# Cross-region snapshot copies call the RDS API of the other region, which no endpoint of this
# VPC serves: refuse a plan whose copies could never run.
resource "terraform_data" "network_path" {
  input = local.cross_region_copies

  lifecycle {
    precondition {
      condition     = length(local.unreachable_copy_regions) == 0
      error_message = "snapshot_copy to ${join(", ", local.unreachable_copy_regions)} calls the RDS API of that region, which the Lambdas' subnets cannot reach: set subnets_have_nat = true (a NAT gateway), or make that region's RDS API reachable (e.g. a peered VPC with an RDS interface endpoint) and list the region in rds_reachable_regions."
    }
  }
}
