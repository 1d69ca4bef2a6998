# The export's Distributed Map (statemachine/drill.asl.json "ExportUnits"): each work unit runs as
# a child workflow execution of this state machine, reading its item list from the backup set
# (ItemReader, s3:GetObject) and writing the Map Run's results under reports/ (ResultWriter).
# IAM as AWS documents it in "IAM policies for using Distributed Map states".

locals {
  # Units exported at once per source: bounded so a large database does not take every unreserved
  # Lambda execution (and connection slot of the temp) at once.
  unit_concurrency   = 8
  map_results_prefix = "reports/map-runs"
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${var.name}"
}

data "aws_iam_policy_document" "distributed_map" {
  # A Distributed Map starts its child executions on the state machine itself (its own ARN is
  # built from the name: the role cannot reference the state machine it belongs to).
  statement {
    sid       = "StartMapRunChildren"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }
  statement {
    sid     = "WatchMapRunChildren"
    actions = ["states:DescribeExecution", "states:StopExecution"]
    resources = [
      "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.name}:*",
      "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.name}/*",
    ]
  }
  statement {
    sid       = "MapRuns"
    actions   = ["states:DescribeMapRun", "states:ListMapRuns", "states:UpdateMapRun"]
    resources = ["arn:${local.partition}:states:${local.region}:${local.account}:mapRun:${var.name}/*"]
  }
  # ItemReader: the unit list the export's plan step writes inside each new set.
  statement {
    sid       = "ReadUnitLists"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/backups/*/units/items.json"]
  }
  # ItemReader of "ValidateUnits": the unit list the validate plan step writes below the
  # source's report history (reports/<source>/validation-units/<drill>/items.json).
  statement {
    sid       = "ReadValidationUnitLists"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/reports/*/validation-units/*/items.json"]
  }
  # ResultWriter: the Map Run's manifest and result files.
  statement {
    sid = "WriteMapRunResults"
    actions = [
      "s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.backups.arn}/${local.map_results_prefix}/*"]
  }
  # The bucket is encrypted with the drill's key.
  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.drill.arn]
  }
}

resource "aws_iam_role_policy" "distributed_map" {
  name   = "${var.name}-distributed-map"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.distributed_map.json
}

# The export's unit steps read back, inside the set they write, the plan and each unit's result
# (finish assembles the manifest from them). Nothing else of a set is read by the export.
data "aws_iam_policy_document" "export_units" {
  statement {
    sid       = "ReadUnitPlansAndResults"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/backups/*/units/*"]
  }
}

resource "aws_iam_role_policy" "export_units" {
  name   = "${var.name}-export-units"
  role   = aws_iam_role.function["export"].id
  policy = data.aws_iam_policy_document.export_units.json
}
