# IAM for aurora-cluster sources (drill_engine::rds::cluster*): restore a source cluster's
# snapshot or point in time only into a drill-named cluster tagged as a drill temp, create its one
# instance, turn on the temp cluster's managed secret, and delete only drill-tagged instances and
# clusters. Condition keys per the Service Authorization Reference for Amazon RDS: aws:RequestTag
# on the create/restore calls (RDS authorizes the tags of a create with rds:AddTagsToResource as
# well), aws:ResourceTag (the same as rds:db-tag/… and rds:cluster-tag/…) on modify and delete.
# The restore calls also authorize on the SOURCE (the cluster snapshot, or the source cluster for
# a point in time): those are named by ARN, never a wildcard over production.

locals {
  aurora_cluster_ids = [for s in var.sources : s.cluster_identifier if s.kind == "aurora-cluster"]
  aurora_wanted      = length(local.aurora_cluster_ids) > 0
  temp_cluster_arn   = "${local.rds_arn}:cluster:${var.temp_prefix}*"
  # What the copy functions read in the copy regions (see DescribeClusterSnapshotCopies).
  copy_region_cluster_reads = flatten([for r in local.copy_regions : ["arn:${local.partition}:rds:${r}:${local.account}:cluster-snapshot:*", "arn:${local.partition}:rds:${r}:${local.account}:cluster:*"]])
  # RDS-managed master secrets of temp clusters: rds!cluster-<uuid>, tagged with the cluster ARN.
  managed_cluster_secret_arn = "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:rds!cluster-*"
}

data "aws_iam_policy_document" "restore_aurora" {
  #checkov:skip=CKV_AWS_356:rds:DescribeDBEngineVersions has no resource type; it reads AWS's engine catalogue only.
  # The restore calls themselves name the sources: infra/iam_sources.tf.
  # The one instance, only into a drill-named cluster, itself drill-named and tagged.
  statement {
    sid       = "CreateOnlyDrillInstancesInDrillClusters"
    actions   = ["rds:CreateDBInstance"]
    resources = [local.temp_db_arn, local.temp_cluster_arn, "${local.rds_arn}:subgrp:${aws_db_subnet_group.temp.name}", "${local.rds_arn}:pg:*", "${local.rds_arn}:og:*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.temp_tag_key}"
      values   = [local.temp_tag_value]
    }
  }

  statement {
    sid       = "TagOnlyDrillClustersAtCreation"
    actions   = ["rds:AddTagsToResource"]
    resources = [local.temp_cluster_arn, local.temp_db_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.temp_tag_key}"
      values   = [local.temp_tag_value]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["drill:*"]
    }
  }

  # Only to hand the temp cluster's master password to Secrets Manager: ModifyDBCluster takes
  # rds:ManageMasterUserPassword (ModifyDBInstance does not), so the grant needs it set to true.
  statement {
    sid       = "ManageSecretOfDrillClustersOnly"
    actions   = ["rds:ModifyDBCluster"]
    resources = [local.temp_cluster_arn]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.temp_tag_key}"
      values   = [local.temp_tag_value]
    }
    condition {
      test     = "Bool"
      variable = "rds:ManageMasterUserPassword"
      values   = ["true"]
    }
  }

  # As for instances: CreateSecret carries the tag in its request (aws:RequestTag); TagResource
  # and RotateSecret act on the existing secret, and RotateSecret takes no aws:RequestTag at all
  # (a RequestTag condition would never hold), so both are scoped by the secret's own tag.
  statement {
    sid       = "RdsManagedSecretCreationForDrillClustersOnly"
    actions   = ["secretsmanager:CreateSecret"]
    resources = [local.managed_cluster_secret_arn]
    condition {
      test     = "StringLike"
      variable = "aws:RequestTag/aws:rds:primaryDBClusterArn"
      values   = [local.temp_cluster_arn]
    }
  }
  statement {
    sid       = "RdsManagedSecretOfDrillClustersOnly"
    actions   = ["secretsmanager:TagResource", "secretsmanager:RotateSecret"]
    resources = [local.managed_cluster_secret_arn]
    condition {
      test     = "StringLike"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn"
      values   = [local.temp_cluster_arn]
    }
  }

  statement {
    sid       = "ReadOnlyDescribeClusters"
    actions   = ["rds:DescribeDBClusters", "rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusterAutomatedBackups"]
    resources = ["${local.rds_arn}:cluster:*", "${local.rds_arn}:cluster-snapshot:*", "${local.rds_arn}:cluster-auto-backup:*"]
  }

  # Cluster snapshot copies (aurora-cluster sources with snapshot_copy), as infra/iam.tf grants
  # them for instance snapshots: tag, share and read only drill-named copies carrying the
  # snapshot-copy tag (the copy itself names its sources: infra/iam_sources.tf). Per the Service
  # Authorization Reference, ModifyDBClusterSnapshotAttribute requires the cluster-snapshot
  # resource type, which takes aws:ResourceTag.
  dynamic "statement" {
    for_each = local.cluster_copies_wanted ? [1] : []
    content {
      sid       = "TagOnlyDrillClusterSnapshotCopies"
      actions   = ["rds:AddTagsToResource"]
      resources = local.copy_cluster_snapshot_arns
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/${local.temp_tag_key}"
        values   = ["snapshot-copy"]
      }
      condition {
        test     = "ForAllValues:StringLike"
        variable = "aws:TagKeys"
        values   = ["drill:*"]
      }
    }
  }
  dynamic "statement" {
    for_each = local.cluster_copies_wanted ? [1] : []
    content {
      sid       = "ShareOnlyDrillClusterSnapshotCopies"
      actions   = ["rds:ModifyDBClusterSnapshotAttribute"]
      resources = local.copy_cluster_snapshot_arns
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${local.temp_tag_key}"
        values   = ["snapshot-copy"]
      }
    }
  }
  dynamic "statement" {
    for_each = local.cluster_copies_wanted ? [1] : []
    content {
      sid     = "DescribeClusterSnapshotCopies"
      actions = ["rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusterSnapshotAttributes", "rds:ListTagsForResource"]
      # Read-only, every cluster snapshot of the copy regions: copies are listed with the
      # db-cluster-id filter (the DBClusterIdentifier parameter must name an existing cluster,
      # and the source is not in the copy region), which names no one snapshot to authorise on.
      resources = local.copy_region_cluster_reads
    }
  }

  # DescribeDBEngineVersions (the Serverless v2 minimum of a version) has no resource type.
  statement {
    sid       = "EngineVersions"
    actions   = ["rds:DescribeDBEngineVersions"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "delete_aurora" {
  # DeleteDBCluster's required resource types are cluster and cluster-snapshot (the final
  # snapshot of FinalDBSnapshotIdentifier). The drill sends SkipFinalSnapshot; the snapshot
  # resource is named as narrowly as the cluster: drill-prefixed only.
  statement {
    sid       = "DeleteOnlyTaggedDrillClusters"
    actions   = ["rds:DeleteDBCluster"]
    resources = [local.temp_cluster_arn, "${local.rds_arn}:cluster-snapshot:${var.temp_prefix}*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.temp_tag_key}"
      values   = [local.temp_tag_value]
    }
  }

  statement {
    sid       = "ReadOnlyDescribeClusters"
    actions   = ["rds:DescribeDBClusters"]
    resources = ["${local.rds_arn}:cluster:*"]
  }

  # Expiry of cluster snapshot copies: only drill-named ones carrying the snapshot-copy tag.
  dynamic "statement" {
    for_each = local.cluster_copies_wanted ? [1] : []
    content {
      sid       = "ExpireOnlyDrillClusterSnapshotCopies"
      actions   = ["rds:DeleteDBClusterSnapshot"]
      resources = local.copy_cluster_snapshot_arns
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${local.temp_tag_key}"
        values   = ["snapshot-copy"]
      }
    }
  }
  dynamic "statement" {
    for_each = local.cluster_copies_wanted ? [1] : []
    content {
      sid       = "DescribeClusterSnapshotCopies"
      actions   = ["rds:DescribeDBClusterSnapshots", "rds:ListTagsForResource"]
      resources = local.copy_region_cluster_reads
    }
  }
}

# Validate and export read the temp cluster's managed secret (tagged with its cluster ARN).
data "aws_iam_policy_document" "read_aurora_secret" {
  statement {
    sid       = "ReadDrillClusterSecretsOnly"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.managed_cluster_secret_arn]
    condition {
      test     = "StringLike"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn"
      values   = [local.temp_cluster_arn]
    }
  }
}

locals {
  aurora_policies = local.aurora_wanted ? {
    restore     = data.aws_iam_policy_document.restore_aurora.json
    delete-temp = data.aws_iam_policy_document.delete_aurora.json
    validate    = data.aws_iam_policy_document.read_aurora_secret.json
    export      = data.aws_iam_policy_document.read_aurora_secret.json
  } : {}
}

resource "aws_iam_role_policy" "aurora" {
  for_each = local.aurora_policies
  name     = "${var.name}-${each.key}-aurora"
  role     = aws_iam_role.function[each.key].id
  policy   = each.value
}
