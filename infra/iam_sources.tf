# The restore function's grants that name the sources one by one: restore a source's snapshots
# or point in time (instances and Aurora clusters), copy its automated snapshots, use its KMS
# keys. Every source adds ARNs, and IAM caps a role's inline policies at 10,240 characters in
# all and a managed policy at 6,144 (white space not counted), 10 managed policies a role by
# default: so these grants are managed policies of at most `sources_per_policy` sources each,
# attached to the restore role beside its inline policies, which name no source. At the most
# 10 such policies: `max_drill_sources` RDS and Aurora sources a deployment.
#
# Each statement is the one the inline policies used to hold (same Sid, same conditions), for
# the sources of its chunk only.

locals {
  # The worst case is a 63-character identifier with snapshot_copy, point in time and two keys:
  # about 1,250 characters of ARNs; four of them and the statements' own text stay under 6,144.
  sources_per_policy = 4
  max_drill_sources  = 10 * local.sources_per_policy
  drill_sources      = [for s in var.sources : s if s.kind != "backup-set"]
  source_chunks      = chunklist(local.drill_sources, local.sources_per_policy)

  # Per chunk: the instance and cluster identifiers, and which of them copy their snapshots.
  chunk_instances      = [for c in local.source_chunks : [for s in c : s.instance_identifier if s.kind == "rds-snapshot"]]
  chunk_instance_copy  = [for c in local.source_chunks : [for s in c : s.instance_identifier if s.kind == "rds-snapshot" && s.snapshot_copy != null]]
  chunk_clusters       = [for c in local.source_chunks : [for s in c : s.cluster_identifier if s.kind == "aurora-cluster"]]
  chunk_clusters_copy  = [for c in local.source_chunks : [for s in c : s.cluster_identifier if s.kind == "aurora-cluster" && s.snapshot_copy != null]]
  chunk_instance_snaps = [for ids in local.chunk_instances : flatten([for id in ids : local.instance_snapshot_arns[id]])]
  chunk_copy_snaps     = [for ids in local.chunk_instance_copy : flatten([for id in ids : local.instance_snapshot_arns[id]])]
  # The keys of the chunk's sources: their own (configured, or read from the instance) and
  # their copies' destination keys.
  chunk_kms_keys = [for c in local.source_chunks : distinct(compact(flatten([for s in c : [
    s.kms_key_arn,
    try(s.snapshot_copy.kms_key_id, null),
    try(data.aws_db_instance.source[s.id].kms_key_id, null),
  ]])))]
}

data "aws_iam_policy_document" "restore_sources" {
  count = length(local.source_chunks)

  dynamic "statement" {
    for_each = length(local.chunk_instances[count.index]) > 0 ? [1] : []
    content {
      sid     = "RestoreOnlyIntoTaggedDrillInstances"
      actions = ["rds:RestoreDBInstanceFromDBSnapshot"]
      # The sources' snapshots, and the drill's own copies of them.
      resources = concat(
        [local.temp_db_arn, "${local.rds_arn}:subgrp:${aws_db_subnet_group.temp.name}", "${local.rds_arn}:og:*", "${local.rds_arn}:pg:*", "${local.rds_arn}:snapshot:${var.temp_prefix}*"],
        local.chunk_instance_snaps[count.index],
      )
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/${local.temp_tag_key}"
        values   = [local.temp_tag_value]
      }
    }
  }

  # Point-in-time restores: from a source instance or its automated backups (retained, or
  # replicated here: auto-backup ARNs), only into drill-named instances tagged as drill temps.
  dynamic "statement" {
    for_each = length(local.chunk_instances[count.index]) > 0 ? [1] : []
    content {
      sid     = "PointInTimeRestoreOnlyIntoTaggedDrillInstances"
      actions = ["rds:RestoreDBInstanceToPointInTime"]
      resources = concat(
        [local.temp_db_arn, "${local.rds_arn}:subgrp:${aws_db_subnet_group.temp.name}", "${local.rds_arn}:og:*", "${local.rds_arn}:pg:*", "${local.rds_arn}:auto-backup:*"],
        [for id in local.chunk_instances[count.index] : "${local.rds_arn}:db:${id}"],
      )
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/${local.temp_tag_key}"
        values   = [local.temp_tag_value]
      }
    }
  }

  # Snapshot copies: copy only the sources' snapshots, only into drill-named snapshots that carry
  # the snapshot-copy tag (tagging, sharing and reading them: infra/iam.tf).
  dynamic "statement" {
    for_each = length(local.chunk_instance_copy[count.index]) > 0 ? [1] : []
    content {
      sid       = "CopyOnlyIntoTaggedDrillSnapshots"
      actions   = ["rds:CopyDBSnapshot"]
      resources = concat(local.chunk_copy_snaps[count.index], local.copy_snapshot_arns)
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/${local.temp_tag_key}"
        values   = ["snapshot-copy"]
      }
    }
  }

  # Aurora: restore a source cluster's snapshot or point in time only into a drill-named cluster
  # tagged as a drill temp (the rest of the Aurora grants: infra/iam_aurora.tf). Cluster
  # snapshots of a source: automated ones rds:<cluster>-YYYY-MM-DD-HH-MM, manual ones <cluster>-*.
  dynamic "statement" {
    for_each = length(local.chunk_clusters[count.index]) > 0 ? [1] : []
    content {
      sid     = "RestoreClustersOnlyIntoTaggedDrillClusters"
      actions = ["rds:RestoreDBClusterFromSnapshot", "rds:RestoreDBClusterToPointInTime"]
      resources = concat(
        [local.temp_cluster_arn, "${local.rds_arn}:subgrp:${aws_db_subnet_group.temp.name}", "${local.rds_arn}:cluster-pg:*", "${local.rds_arn}:og:*"],
        flatten([for id in local.chunk_clusters[count.index] : [
          "${local.rds_arn}:cluster-snapshot:rds:${id}-${local.snapshot_date_pattern}",
          "${local.rds_arn}:cluster-snapshot:${id}-*",
          "${local.rds_arn}:cluster:${id}",
        ]]),
        # A deleted source's retained automated backups (SourceDbClusterResourceId): their
        # identifiers are RDS-made, so only the temp's tag condition keeps this to drill restores.
        ["${local.rds_arn}:cluster-auto-backup:*"],
      )
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/${local.temp_tag_key}"
        values   = [local.temp_tag_value]
      }
    }
  }

  # Cluster snapshot copies: only the copying sources' automated cluster snapshots (`<id>-*`
  # would also match manual snapshots of another cluster named `<id>-something`), only into
  # drill-named cluster snapshots carrying the snapshot-copy tag.
  dynamic "statement" {
    for_each = length(local.chunk_clusters_copy[count.index]) > 0 ? [1] : []
    content {
      sid     = "CopyOnlyIntoTaggedDrillClusterSnapshots"
      actions = ["rds:CopyDBClusterSnapshot"]
      resources = concat(
        [for id in local.chunk_clusters_copy[count.index] : "${local.rds_arn}:cluster-snapshot:rds:${id}-${local.snapshot_date_pattern}"],
        local.copy_cluster_snapshot_arns,
      )
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/${local.temp_tag_key}"
        values   = ["snapshot-copy"]
      }
    }
  }

  # The keys of encrypted sources and of their copies: RDS uses them through grants it makes
  # with the function's permission, so CreateGrant holds only for a grant to an AWS service
  # (kms:GrantIsForAWSResource): the role can never grant another principal the use of a
  # production key. DescribeKey takes no such key: its own statement.
  dynamic "statement" {
    for_each = length(local.chunk_kms_keys[count.index]) > 0 ? [1] : []
    content {
      sid       = "KmsGrantsToRdsOnly"
      actions   = ["kms:CreateGrant"]
      resources = local.chunk_kms_keys[count.index]
      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }
  dynamic "statement" {
    for_each = length(local.chunk_kms_keys[count.index]) > 0 ? [1] : []
    content {
      sid       = "KmsDescribeOfRdsKeys"
      actions   = ["kms:DescribeKey"]
      resources = local.chunk_kms_keys[count.index]
    }
  }
}

resource "aws_iam_policy" "restore_sources" {
  count       = length(local.source_chunks)
  name        = "${var.name}-restore-sources-${count.index}"
  description = "restore-drill: the restore function's grants on sources ${join(", ", [for s in local.source_chunks[count.index] : s.id])}"
  policy      = data.aws_iam_policy_document.restore_sources[count.index].json

  lifecycle {
    precondition {
      condition     = length(replace(data.aws_iam_policy_document.restore_sources[count.index].json, "/\\s/", "")) <= 6144
      error_message = "The restore function's grants on sources ${join(", ", [for s in local.source_chunks[count.index] : s.id])} exceed IAM's 6,144 characters for a managed policy: shorten their identifiers or KMS key ids."
    }
  }
}

resource "aws_iam_role_policy_attachment" "restore_sources" {
  count      = length(local.source_chunks)
  role       = aws_iam_role.function["restore"].name
  policy_arn = aws_iam_policy.restore_sources[count.index].arn
}
