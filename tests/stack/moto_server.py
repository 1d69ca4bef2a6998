"""moto server with restore-drill's local fixes.

Each fix below works around one moto 5.2.x behaviour listed in ../shared/notes/local-aws.md and is
covered by a test in tests/tests/stack_moto.rs or stack_moto_rds.rs. Only this launcher is patched; moto itself is the
pinned release from requirements.txt in the project virtualenv.

Usage: python moto_server.py PORT
Environment:
  DRILL_LAMBDA_FORWARD_URL  default base URL that Lambda invocations are forwarded to
                            (our own handlers served behind the Lambda Invoke HTTP path).
"""

import json
import os
import sys
import urllib.error
import urllib.request


def _utc(t):
    """A moto timestamp as an aware UTC datetime (moto keeps naive ones)."""
    import datetime as dt

    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _check_restore_time(param, restore_time, earliest, latest):
    """AWS refuses a point-in-time restore to a moment outside the backup's restore window
    (InvalidRestoreFault); moto took any time. One second of slack for the window's rounding."""
    import datetime as dt

    from moto.rds.exceptions import RDSClientError

    if restore_time is None:
        return
    when = _utc(restore_time if isinstance(restore_time, dt.datetime)
                else dt.datetime.fromisoformat(str(restore_time).replace("Z", "+00:00")))
    if not earliest - dt.timedelta(seconds=1) <= when <= latest:
        raise RDSClientError(
            "InvalidRestoreFault",
            f"{param} {when.isoformat()} is outside the restore window "
            f"{earliest.isoformat()} .. {latest.isoformat()}.",
        )


def fix_stepfunctions_terraform_calls():
    """terraform-provider-aws calls ValidateStateMachineDefinition during plan and
    ListStateMachineVersions during apply; moto implements neither (plan retries for >10 min,
    apply hangs). Answer them the way AWS does for a definition we have already validated with
    asl-validator: OK, and no published versions."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self):
        definition = self._get_param("definition")
        try:
            json.loads(definition)
        except (TypeError, ValueError) as exc:
            return ActionResult(
                {
                    "result": "FAIL",
                    "diagnostics": [
                        {
                            "severity": "ERROR",
                            "code": "INVALID_JSON_DESCRIPTION",
                            "message": f"definition is not JSON: {exc}",
                        }
                    ],
                }
            )
        return ActionResult({"result": "OK", "diagnostics": [], "truncated": False})

    def list_state_machine_versions(self):
        return ActionResult({"stateMachineVersions": []})

    StepFunctionResponse.validate_state_machine_definition = validate_state_machine_definition
    StepFunctionResponse.list_state_machine_versions = list_state_machine_versions


def fix_stepfunctions_execution_names():
    """StartExecution without a name names the execution "None" in moto, so the second unnamed
    run of a state machine fails with ExecutionAlreadyExists. AWS generates a UUID (EventBridge
    and the console start unnamed executions)."""
    import uuid

    from moto.stepfunctions.responses import StepFunctionResponse

    from moto.core.responses import ActionResult

    # moto's own start_execution, with the name defaulted.
    def start_execution(self):
        execution = self.stepfunction_backend.start_execution(
            self._get_param("stateMachineArn"),
            self._get_param("name") or str(uuid.uuid4()),
            self._get_param("input", if_none="{}"),
        )
        return ActionResult(
            {"executionArn": execution.execution_arn, "startDate": execution.start_date}
        )

    StepFunctionResponse.start_execution = start_execution


def fix_stepfunctions_repeat_executions():
    """StartExecution deep-copies the state machine, which holds a reference to the whole backend
    (`self.backend`). Once any execution exists (it holds a thread lock), that copy fails with
    "cannot pickle '_thread.RLock' object" and HTTP 500: only the first execution per moto
    process would ever start. Copy the state machine's own settings, share the backend and the
    execution list."""
    import copy

    from moto.stepfunctions.models import StateMachine

    shared = {"backend", "executions"}

    def __deepcopy__(self, memo):
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            setattr(clone, key, value if key in shared else copy.deepcopy(value, memo))
        return clone

    StateMachine.__deepcopy__ = __deepcopy__


def fix_rds_restore_falsy_overrides():
    """RestoreDBInstanceFromDBSnapshot copies only *truthy* request parameters over the snapshot's
    settings (`if value:`), so DeletionProtection=false, BackupRetentionPeriod=0,
    PubliclyAccessible=false and MultiAZ=false are silently ignored and the source's values are
    inherited. AWS applies them; so do we."""
    from moto.rds.models import RDSBackend

    original = RDSBackend.restore_db_instance_from_db_snapshot

    def restore_db_instance_from_db_snapshot(self, from_snapshot_id, overrides):
        instance = original(self, from_snapshot_id, overrides)
        for key, value in overrides.items():
            if value is not None and not value and not isinstance(value, (list, dict, str)):
                if hasattr(instance, key):
                    setattr(instance, key, value)
        return instance

    RDSBackend.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot


# A class no local test ever gets: RDS's InsufficientDBInstanceCapacity is the one restore failure
# moto cannot produce on its own.
NO_CAPACITY_CLASS = "db.drill-no-capacity.large"


def fix_rds_restore_managed_secret_and_capacity():
    """Two RDS behaviours of RestoreDBInstanceFromDBSnapshot that moto does not have:
    - ManageMasterUserPassword "applies to RDS for Oracle only" (API reference): AWS creates no
      managed master secret for any other engine, and a restored instance never inherits the
      source's secret. moto created one when asked, or when the source had one. Now a non-Oracle restore has no managed secret; ModifyDBInstance with
      ManageMasterUserPassword creates one (moto's own modify already does).
    - InsufficientDBInstanceCapacity: a restore into NO_CAPACITY_CLASS fails with it, as AWS
      does when an AZ has no capacity for the class, so the class fallback can be tested."""
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend

    original = RDSBackend.restore_db_instance_from_db_snapshot

    def restore_db_instance_from_db_snapshot(self, from_snapshot_id, overrides):
        if overrides.get("db_instance_class") == NO_CAPACITY_CLASS:
            raise RDSClientError(
                "InsufficientDBInstanceCapacity",
                f"Cannot create a database instance because there is no capacity for {NO_CAPACITY_CLASS}.",
            )
        instance = original(self, from_snapshot_id, overrides)
        if not str(getattr(instance, "engine", "")).startswith("oracle"):
            # moto made this secret for the restore (asked for, or copied from the source's
            # setting); AWS makes none.
            secret = instance.__dict__.pop("master_user_secret", None)
            if secret is not None:
                secret.delete_secret()
            instance.manage_master_user_password = False
        return instance

    RDSBackend.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot


def fix_rds_snapshot_arns():
    """RDS snapshots named by ARN (cross-region and cross-account copies), of instances
    (`:snapshot:`) and of Aurora clusters (`:cluster-snapshot:`). moto looked them up in the
    caller's own account and cut the name at the last colon, so a copy of an automated snapshot
    (`...:snapshot:rds:db-2026-...`) to another region, and a copy of a snapshot another account
    shared, both failed with DBSnapshotNotFound; a cluster snapshot's ARN was looked up by its bare
    name in the caller's own account, whatever account it named (another account's shared cluster
    snapshot was never found; a same-named one of the caller's was taken instead). As in AWS, an ARN now resolves in
    its own account and region, with AWS's limits: another region's snapshot only as the source
    of a copy; another account's snapshot only when shared with the caller (`restore`
    attribute), only to copy, restore or describe, never to modify its attributes. The receiving
    account sees such a snapshot as AWS shows it: identifier = ARN, SnapshotType = shared.
    Also, as CopyDBClusterSnapshot's KmsKeyId says: "If you copy an unencrypted DB cluster
    snapshot and specify a value for the KmsKeyId parameter, an error is returned" (moto
    encrypted the copy, as CopyDBSnapshot does for instance snapshots)."""
    import threading

    from moto.rds.exceptions import (
        DBClusterSnapshotNotFoundError,
        DBSnapshotNotFoundFault,
        InvalidParameterCombination,
    )
    from moto.rds.models import DBClusterSnapshot, DBSnapshot, RDSBackend, rds_backends

    original_get = RDSBackend.get_snapshot
    original_describe = RDSBackend.describe_db_snapshots
    original_describe_cluster = RDSBackend.describe_db_cluster_snapshots
    original_shared = RDSBackend.get_shared_snapshots
    original_extract = RDSBackend.extract_snapshot_name_from_arn
    original_copy = RDSBackend.copy_db_snapshot
    original_copy_cluster = RDSBackend.copy_db_cluster_snapshot
    original_modify = RDSBackend.modify_db_snapshot_attribute
    original_modify_cluster = RDSBackend.modify_db_cluster_snapshot_attribute
    copying = threading.local()

    class SharedView:
        """A snapshot of another account as the account it is shared with sees it."""

        def __init__(self, snapshot):
            self._snapshot = snapshot

        def __getattr__(self, name):
            return getattr(self._snapshot, name)

        @property
        def snapshot_type(self):
            return "shared"

        @property
        def db_snapshot_identifier(self):
            return self._snapshot.arn

        @property
        def db_cluster_snapshot_identifier(self):
            return self._snapshot.arn

    def shared_with(snapshot, account):
        values = snapshot.attributes.get("restore", [])
        return account in values or "all" in values

    def parse(identifier, resource="snapshot"):
        parts = identifier.split(":", 6)
        if len(parts) == 7 and parts[0] == "arn" and parts[2] == "rds" and parts[5] == resource:
            return parts[3], parts[4], parts[6].lower()
        return None

    def get_snapshot(self, identifier, resource_type, not_found_exception):
        arn = parse(identifier, resource_type.resource_type)
        if arn is None:
            if identifier.startswith("arn:"):
                # The other kind's ARN (an instance snapshot's for a cluster's, or the reverse).
                raise not_found_exception(identifier)
            return original_get(self, identifier, resource_type, not_found_exception)
        region, account, name = arn
        other_region = region != self.region_name
        if other_region and not getattr(copying, "active", False):
            raise not_found_exception(identifier)
        snapshot = rds_backends[account][region].resource_map[resource_type].get(name)
        if snapshot is None or (
            account != self.account_id and not shared_with(snapshot, self.account_id)
        ):
            raise not_found_exception(identifier)
        return snapshot

    def copy_db_snapshot(self, source_db_snapshot_identifier, *args, **kwargs):
        copying.active = True
        try:
            return original_copy(self, source_db_snapshot_identifier, *args, **kwargs)
        finally:
            copying.active = False

    def copy_db_cluster_snapshot(self, source_db_cluster_snapshot_identifier, *args, **kwargs):
        copying.active = True
        try:
            source = self.get_db_cluster_snapshot(source_db_cluster_snapshot_identifier)
            if kwargs.get("kms_key_id") and not source.storage_encrypted:
                raise InvalidParameterCombination(
                    "KmsKeyId can't be specified for an unencrypted DB cluster snapshot."
                )
            return original_copy_cluster(
                self, source_db_cluster_snapshot_identifier, *args, **kwargs
            )
        finally:
            copying.active = False

    def describe_db_snapshots(self, db_instance_identifier, db_snapshot_identifier=None, snapshot_type=None, filters=None):
        arn = parse(db_snapshot_identifier or "")
        if arn is not None and not db_instance_identifier:
            snapshot = self.get_db_snapshot(db_snapshot_identifier)
            return [snapshot if arn[1] == self.account_id else SharedView(snapshot)]
        return original_describe(self, db_instance_identifier, db_snapshot_identifier, snapshot_type, filters)

    def describe_db_cluster_snapshots(self, db_cluster_identifier, db_snapshot_identifier, snapshot_type=None, filters=None):
        arn = parse(db_snapshot_identifier or "", "cluster-snapshot")
        if arn is not None and not db_cluster_identifier:
            snapshot = self.get_db_cluster_snapshot(db_snapshot_identifier)
            return [snapshot if arn[1] == self.account_id else SharedView(snapshot)]
        return original_describe_cluster(
            self, db_cluster_identifier, db_snapshot_identifier, snapshot_type, filters
        )

    def modify_db_snapshot_attribute(self, db_snapshot_identifier, *args, **kwargs):
        arn = parse(db_snapshot_identifier)
        if arn is not None and (arn[1] != self.account_id or arn[0] != self.region_name):
            raise DBSnapshotNotFoundFault(db_snapshot_identifier)
        return original_modify(self, db_snapshot_identifier, *args, **kwargs)

    def modify_db_cluster_snapshot_attribute(self, db_cluster_snapshot_identifier, *args, **kwargs):
        arn = parse(db_cluster_snapshot_identifier, "cluster-snapshot")
        if arn is not None and (arn[1] != self.account_id or arn[0] != self.region_name):
            raise DBClusterSnapshotNotFoundError(db_cluster_snapshot_identifier)
        return original_modify_cluster(self, db_cluster_snapshot_identifier, *args, **kwargs)

    def get_shared_snapshots(self, resource_type):
        return [SharedView(s) for s in original_shared(self, resource_type=resource_type)]

    def extract_snapshot_name_from_arn(self, snapshot_arn):
        # Keep the whole ARN: get_snapshot and describe_db_snapshots above resolve it (restore
        # looked the bare name up in its own account and region).
        if parse(snapshot_arn) is None:
            return original_extract(self, snapshot_arn)
        return snapshot_arn

    RDSBackend.extract_snapshot_name_from_arn = extract_snapshot_name_from_arn
    RDSBackend.get_snapshot = get_snapshot
    RDSBackend.copy_db_snapshot = copy_db_snapshot
    RDSBackend.copy_db_cluster_snapshot = copy_db_cluster_snapshot
    RDSBackend.describe_db_snapshots = describe_db_snapshots
    RDSBackend.describe_db_cluster_snapshots = describe_db_cluster_snapshots
    RDSBackend.modify_db_snapshot_attribute = modify_db_snapshot_attribute
    RDSBackend.modify_db_cluster_snapshot_attribute = modify_db_cluster_snapshot_attribute
    RDSBackend.get_shared_db_snapshots = lambda self: get_shared_snapshots(self, DBSnapshot)
    RDSBackend.get_shared_db_cluster_snapshots = lambda self: get_shared_snapshots(
        self, DBClusterSnapshot
    )


def fix_rds_snapshot_describe_constraints():
    """DescribeDBSnapshots / DescribeDBClusterSnapshots as their parameters are documented:
    `DBInstanceIdentifier` / `DBClusterIdentifier` "If supplied, must match the identifier of an
    existing DBInstance" (DBCluster), and `DB(Cluster)SnapshotIdentifier` "If this identifier is
    for an automated snapshot, the SnapshotType parameter must also be specified". moto listed
    the snapshots of a deleted or other-region source by identifier, and described automated
    snapshots by identifier alone. The error codes are the services' not-found faults (the
    reference names the constraints, not the code). The `db-instance-id` / `db-cluster-id`
    filters have no such constraint and stay as moto has them. Only the API is patched: moto's
    own restores look snapshots up through the backend, not through this."""
    from moto.rds.exceptions import (
        DBClusterNotFoundError,
        DBClusterSnapshotNotFoundError,
        DBInstanceNotFoundError,
        DBSnapshotNotFoundFault,
    )
    from moto.rds.responses import RDSResponse

    original_describe = RDSResponse.describe_db_snapshots
    original_describe_cluster = RDSResponse.describe_db_cluster_snapshots

    def automated_name(identifier):
        name = identifier.split(":", 6)[6] if identifier.startswith("arn:") and identifier.count(":") >= 6 else identifier
        return name.lower().startswith("rds:")

    def describe_db_snapshots(self):
        instance = self.params.get("DBInstanceIdentifier")
        if instance and instance.lower() not in {k.lower() for k in self.backend.databases}:
            raise DBInstanceNotFoundError(instance)
        snapshot = self.params.get("DBSnapshotIdentifier")
        if snapshot and automated_name(snapshot) and self.params.get("SnapshotType") != "automated":
            raise DBSnapshotNotFoundFault(snapshot)
        return original_describe(self)

    def describe_db_cluster_snapshots(self):
        cluster = self.params.get("DBClusterIdentifier")
        if cluster and cluster.lower() not in {k.lower() for k in self.backend.clusters}:
            raise DBClusterNotFoundError(cluster)
        snapshot = self.params.get("DBClusterSnapshotIdentifier")
        if snapshot and automated_name(snapshot) and self.params.get("SnapshotType") != "automated":
            raise DBClusterSnapshotNotFoundError(snapshot)
        return original_describe_cluster(self)

    RDSResponse.describe_db_snapshots = describe_db_snapshots
    RDSResponse.describe_db_cluster_snapshots = describe_db_cluster_snapshots


def fix_iam_policy_size_quotas():
    """IAM's policy quotas, which moto reports (GetAccountSummary) but never enforced: "The
    aggregate size of all inline policies attached to a role cannot exceed 10,240 characters",
    a managed policy "cannot exceed 6,144 characters", and a role takes at most 10 managed
    policies (the default quota); "IAM doesn't count white space when calculating the size of a
    policy against these quotas". Over a quota AWS answers LimitExceeded, as moto now does:
    a deployment whose roles AWS would refuse fails here too."""
    from moto.iam.exceptions import LimitExceededException
    from moto.iam.models import IAMBackend

    original_put = IAMBackend.put_role_policy
    original_create = IAMBackend.create_policy
    original_version = IAMBackend.create_policy_version
    original_attach = IAMBackend.attach_role_policy

    def size(document):
        return sum(1 for c in document if not c.isspace())

    def put_role_policy(self, role_name, policy_name, policy_json):
        role = self.get_role(role_name)
        others = sum(size(d) for name, d in role.policies.items() if name != policy_name)
        if others + size(policy_json) > self.account_summary._role_policy_size_quota:
            raise LimitExceededException(
                f"Maximum policy size of {self.account_summary._role_policy_size_quota} bytes exceeded for role {role_name}"
            )
        return original_put(self, role_name, policy_name, policy_json)

    def check_managed(document):
        if size(document) > 6144:
            raise LimitExceededException("Cannot exceed quota for PolicySize: 6144")

    def create_policy(self, description, path, policy_document, policy_name, tags):
        check_managed(policy_document)
        return original_create(self, description, path, policy_document, policy_name, tags)

    def create_policy_version(self, policy_arn, policy_document, set_as_default):
        check_managed(policy_document)
        return original_version(self, policy_arn, policy_document, set_as_default)

    def attach_role_policy(self, policy_arn, role_name):
        role = self.get_role(role_name)
        attached = getattr(role, "managed_policies", {})
        if policy_arn not in attached and len(attached) >= self.account_summary._attached_policies_per_role_quota:
            raise LimitExceededException(
                f"Cannot exceed quota for PoliciesPerRole: {self.account_summary._attached_policies_per_role_quota}"
            )
        return original_attach(self, policy_arn, role_name)

    IAMBackend.put_role_policy = put_role_policy
    IAMBackend.create_policy = create_policy
    IAMBackend.create_policy_version = create_policy_version
    IAMBackend.attach_role_policy = attach_role_policy


def fix_s3_bucket_policy_conditions():
    """moto evaluates bucket policies without their Condition blocks, so the standard TLS-only
    statement (Deny s3:* when aws:SecureTransport is false) denies every request, over any
    transport. moto cannot evaluate conditions; drop conditional statements before it evaluates
    the rest. Unconditional Deny and Allow statements keep working."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self, action, resource):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode())
        statements = policy.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        policy["Statement"] = [st for st in statements if "Condition" not in st]
        return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission


def fix_s3_multipart_object_lock():
    """S3 applies the Object Lock headers of CreateMultipartUpload (x-amz-object-lock-mode,
    x-amz-object-lock-retain-until-date) to the object CompleteMultipartUpload makes; moto drops
    them, so a multipart backup would be unlocked there (and code was tempted to set retention
    afterwards with PutObjectRetention, which the export role must not have). Keep them on the
    upload and apply them on completion."""
    from moto.s3 import responses as s3_responses
    from moto.s3.models import S3Backend

    original_post = s3_responses.S3Response._key_response_post
    original_complete = S3Backend.complete_multipart_upload

    def key_response_post(self, request, body, bucket_name, query, key_name):
        result = original_post(self, request, body, bucket_name, query, key_name)
        if body == b"" and "uploads" in query:
            mode = request.headers.get("x-amz-object-lock-mode")
            until = request.headers.get("x-amz-object-lock-retain-until-date")
            if mode or until:
                bucket = self.backend.get_bucket(bucket_name)
                # The upload just created: the newest one for this key.
                uploads = [m for m in bucket.multiparts.values() if m.key_name == key_name]
                if uploads:
                    uploads[-1].drill_lock = (mode, until)
        return result

    def complete_multipart_upload(self, bucket_name, multipart_id, body):
        bucket = self.get_bucket(bucket_name)
        lock = getattr(bucket.multiparts.get(multipart_id), "drill_lock", None)
        key = original_complete(self, bucket_name, multipart_id, body)
        if key is not None and lock is not None:
            key.lock_mode, key.lock_until = lock
        return key

    s3_responses.S3Response._key_response_post = key_response_post
    S3Backend.complete_multipart_upload = complete_multipart_upload


FORWARD_TAG = "drill:local-invoke-url"


def fix_lambda_invoke_forwarding():
    """Without Docker, moto's Lambda never runs the function: invoke echoes the input, so a state
    machine executed by moto would never run our code. Forward each invocation to our own handlers,
    served behind the Lambda Invoke HTTP path (tests/src/bin/lambda-host.rs), and pass their
    function error back the way Lambda does (X-Amz-Function-Error), so Retry/Catch see the real
    error_type. The target is the function's `drill:local-invoke-url` tag when set (a test's own
    server), else DRILL_LAMBDA_FORWARD_URL."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        fn = self.get_function(function_name, qualifier)
        tags = self.list_tags(fn.function_arn) or {}
        base = tags.get(FORWARD_TAG) or os.environ.get("DRILL_LAMBDA_FORWARD_URL")
        if not base:
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(
                {
                    "errorType": "Drill.LocalStack",
                    "errorMessage": "moto has no Lambda forward target: set DRILL_LAMBDA_FORWARD_URL "
                    f"or tag the function with {FORWARD_TAG}",
                }
            ).encode()
        else:
            url = f"{base.rstrip('/')}/2015-03-31/functions/{fn.function_name}/invocations"
            data = body if isinstance(body, bytes) else (body or "{}").encode()
            req = urllib.request.Request(
                url, data=data, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=900) as resp:
                    payload = resp.read()
                    err = resp.headers.get("X-Amz-Function-Error")
            except urllib.error.HTTPError as exc:
                payload = exc.read()
                err = "Unhandled"
            except OSError as exc:
                payload = json.dumps(
                    {"errorType": "Drill.LocalStack", "errorMessage": f"forward to {url}: {exc}"}
                ).encode()
                err = "Unhandled"
            if err:
                response_headers["x-amz-function-error"] = err
        response_headers["Content-Length"] = str(len(payload))
        return payload

    LambdaBackend.invoke = invoke
    LambdaSimpleBackend.invoke = invoke


def fix_rds_unique_resource_ids():
    """moto gives every DB instance the same DbiResourceId (`db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U`). In
    AWS it is "the AWS Region-unique, immutable identifier for the DB instance" (DBInstance in
    the RDS API reference; e.g. `db-ABCDEFGHIJKLMNOPQRSTU1VW2X`). The Terraform provider
    reads an `aws_db_instance` back by a `dbi-resource-id` filter, so with two instances in moto it
    got both and reported the new one "couldn't find resource". Each instance now gets its own id,
    in AWS's form: `db-` and 26 upper-case letters and digits."""
    import secrets
    import string

    from moto.rds.models import DBInstance

    original = DBInstance.__init__
    alphabet = string.ascii_uppercase + string.digits

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.dbi_resource_id = "db-" + "".join(secrets.choice(alphabet) for _ in range(26))

    DBInstance.__init__ = __init__


def fix_rds_point_in_time_restores():
    """Point-in-time restores and automated backups as the RDS API reference describes them
    (DescribeDBInstanceAutomatedBackups, RestoreDBInstanceToPointInTime,
    StartDBInstanceAutomatedBackupsReplication). moto 5.2.1 has:
    - DescribeDBInstanceAutomatedBackups with only DBInstanceIdentifier and Status: no
      DBInstanceAutomatedBackupsArn, DbiResourceId, Region, RestoreWindow, BackupRetentionPeriod.
      Now each instance with BackupRetentionPeriod > 0 has one, its window from its first
      automated snapshot to now (to its deletion once retained), and a DBInstanceIdentifier that
      names no existing instance is DBInstanceNotFound ("must match the identifier of an
      existing DB instance").
    - DeleteDBInstance that forgot everything but the automated snapshots: now
      DeleteAutomatedBackups=false leaves a `retained` automated backup (the default, true,
      deletes it, as in AWS).
    - RestoreDBInstanceToPointInTime that needs a live SourceDBInstanceIdentifier (ignores
      SourceDBInstanceAutomatedBackupsArn), copies the source's tags and managed secret, applies
      only truthy overrides, and takes any RestoreTime. Now: the source by identifier or by
      automated backups ARN (retained, or a replica in its destination region); a RestoreTime
      outside the window is InvalidRestoreFault; RestoreTime with UseLatestRestorableTime is
      InvalidParameterCombination; only the requested tags; DeletionProtection=false,
      BackupRetentionPeriod=0 and the like applied; no managed secret (non-Oracle).
    - no StartDBInstanceAutomatedBackupsReplication: now it records, in the destination region,
      a `replicating` automated backup (Region = the source's region) of a live instance."""
    import datetime as dt
    import secrets
    import string

    from moto.core.responses import ActionResult
    from moto.rds.exceptions import (
        DBInstanceNotFoundError,
        InvalidParameterCombination,
        RDSClientError,
    )
    from moto.rds.models import RDSBackend, rds_backends
    from moto.rds.responses import RDSResponse

    def now():
        return dt.datetime.now(dt.timezone.utc)

    def registry(backend):
        # Backups that outlive their instance (retained) or live in another region (replicas).
        if not hasattr(backend, "_drill_backups"):
            backend._drill_backups = {}
        return backend._drill_backups

    def backup_arn(backend):
        alphabet = string.ascii_uppercase + string.digits
        suffix = "".join(secrets.choice(alphabet) for _ in range(26))
        return f"arn:aws:rds:{backend.region_name}:{backend.account_id}:auto-backup:ab-{suffix}"

    def live_entry(backend, db):
        # One stable ARN per instance, kept across describes.
        arns = backend.__dict__.setdefault("_drill_live_arns", {})
        arn = arns.setdefault(db.dbi_resource_id, backup_arn(backend))
        snaps = [
            _utc(s.snapshot_create_time)
            for s in backend.database_snapshots.values()
            if s.snapshot_type == "automated" and s.db_instance_identifier == db.db_instance_identifier
        ]
        return {
            "arn": arn,
            "identifier": db.db_instance_identifier,
            "dbi": db.dbi_resource_id,
            "region": backend.region_name,
            "engine": db.engine,
            "retention": db.backup_retention_period,
            "earliest": min(snaps) if snaps else _utc(db.created),
            "deleted_at": None,
            "status": "active",
            "source": (backend, db.db_instance_identifier),
        }

    def entries(backend):
        out = [
            live_entry(backend, db)
            for db in backend.databases.values()
            if (db.backup_retention_period or 0) > 0
        ]
        for entry in registry(backend).values():
            entry = dict(entry)
            if entry["status"] == "replicating":
                src_backend, ident = entry["source"]
                src = src_backend.databases.get(ident)
                if src is None or src.dbi_resource_id != entry["dbi"]:
                    # The source is gone: the replica stops at the source's deletion.
                    entry["deleted_at"] = entry.get("deleted_at") or now()
                    registry(backend)[entry["arn"]]["deleted_at"] = entry["deleted_at"]
            out.append(entry)
        return out

    def shape(entry):
        latest = entry["deleted_at"] or now()
        return {
            "DBInstanceAutomatedBackupsArn": entry["arn"],
            "DBInstanceIdentifier": entry["identifier"],
            "DbiResourceId": entry["dbi"],
            "Region": entry["region"],
            "Engine": entry["engine"],
            "Status": entry["status"],
            "BackupRetentionPeriod": entry["retention"],
            "RestoreWindow": {"EarliestTime": entry["earliest"], "LatestTime": latest},
        }

    def describe(self):
        ident = self._get_param("DBInstanceIdentifier")
        if ident and ident not in self.backend.databases:
            raise DBInstanceNotFoundError(ident)
        found = [shape(e) for e in entries(self.backend)]
        if ident:
            found = [b for b in found if b["DBInstanceIdentifier"] == ident]
        return ActionResult({"DBInstanceAutomatedBackups": found})

    RDSResponse.describe_db_instance_automated_backups = describe

    original_delete = RDSBackend.delete_db_instance

    def delete_db_instance(self, db_instance_identifier, *args, **kwargs):
        db = self.databases.get(db_instance_identifier)
        keep = db is not None and (db.backup_retention_period or 0) > 0
        entry = live_entry(self, db) if keep else None
        delete_automated = kwargs.get("delete_automated_backups", True)
        if len(args) >= 3:
            delete_automated = args[2]
        result = original_delete(self, db_instance_identifier, *args, **kwargs)
        if entry is not None and delete_automated is False:
            entry.update(status="retained", deleted_at=now())
            # What a restore needs once the instance is gone (AWS keeps the instance properties).
            entry["props"] = db
            registry(self)[entry["arn"]] = entry
        return result

    RDSBackend.delete_db_instance = delete_db_instance

    def start_replication(self):
        source_arn = self._get_param("SourceDBInstanceArn")
        parts = source_arn.split(":")
        src_backend = rds_backends[parts[4]][parts[3]]
        db = src_backend.databases.get(parts[6])
        if db is None:
            raise DBInstanceNotFoundError(parts[6])
        entry = live_entry(src_backend, db)
        entry.update(arn=backup_arn(self.backend), status="replicating", props=db)
        registry(self.backend)[entry["arn"]] = entry
        # The source lists its replications (DBInstance.DBInstanceAutomatedBackupsReplications).
        db.db_instance_automated_backups_replications = [
            {"DBInstanceAutomatedBackupsArn": entry["arn"]}
        ]
        return ActionResult({"DBInstanceAutomatedBackup": shape(entry)})

    RDSResponse.start_db_instance_automated_backups_replication = start_replication

    def find_by_arn(backend, arn):
        for entry in entries(backend):
            if entry["arn"] == arn:
                return entry
        raise RDSClientError(
            "DBInstanceAutomatedBackupNotFound", f"Automated backup {arn} not found."
        )

    def restore_to_point_in_time(self):
        params = self.params
        target = params.get("TargetDBInstanceIdentifier")
        restore_time = params.get("RestoreTime")
        use_latest = params.get("UseLatestRestorableTime")
        if restore_time is not None and use_latest:
            raise InvalidParameterCombination(
                "Cannot specify both RestoreTime and UseLatestRestorableTime."
            )
        if target in self.backend.databases:
            from moto.rds.exceptions import DBInstanceAlreadyExists

            raise DBInstanceAlreadyExists()
        if params.get("SourceDBInstanceAutomatedBackupsArn"):
            entry = find_by_arn(self.backend, params["SourceDBInstanceAutomatedBackupsArn"])
        else:
            ident = params.get("SourceDBInstanceIdentifier")
            db = self.backend.databases.get(ident)
            if db is None:
                raise DBInstanceNotFoundError(ident)
            if not (db.backup_retention_period or 0) > 0:
                raise RDSClientError(
                    "InvalidDBInstanceState", f"Automated backups are not enabled for {ident}."
                )
            entry = live_entry(self.backend, db)
        latest = entry["deleted_at"] or now()
        _check_restore_time("RestoreTime", restore_time, entry["earliest"], latest)
        source_db = entry.get("props") or entry["source"][0].databases[entry["identifier"]]
        props = {}
        for key, value in source_db.__dict__.items():
            key = key[1:] if key.startswith("_") else key
            if key in ("backend", "db_subnet_group", "max_allocated_storage", "tags",
                       "master_user_secret", "db_parameter_group_name", "vpc_security_group_ids"):
                continue
            props[key] = value
        if not source_db.option_group_supplied:
            props.pop("option_group_name", None)
        props["db_name"] = source_db.db_name
        # Requested settings win, falsy ones included (DeletionProtection=false, retention 0).
        for key in ("db_instance_class", "db_subnet_group_name", "vpc_security_group_ids",
                    "db_parameter_group_name", "backup_retention_period", "deletion_protection",
                    "publicly_accessible", "multi_az", "copy_tags_to_snapshot",
                    "auto_minor_version_upgrade"):
            camel = {"db_instance_class": "DBInstanceClass",
                     "db_subnet_group_name": "DBSubnetGroupName",
                     "vpc_security_group_ids": "VpcSecurityGroupIds",
                     "db_parameter_group_name": "DBParameterGroupName",
                     "backup_retention_period": "BackupRetentionPeriod",
                     "deletion_protection": "DeletionProtection",
                     "publicly_accessible": "PubliclyAccessible",
                     "multi_az": "MultiAZ",
                     "copy_tags_to_snapshot": "CopyTagsToSnapshot",
                     "auto_minor_version_upgrade": "AutoMinorVersionUpgrade"}[key]
            if camel in params:
                props[key] = params[camel]
        if props.get("db_instance_class") == NO_CAPACITY_CLASS:
            raise RDSClientError(
                "InsufficientDBInstanceCapacity",
                f"Cannot create a database instance because there is no capacity for {NO_CAPACITY_CLASS}.",
            )
        props["db_instance_identifier"] = target
        props["tags"] = params.get("Tags") or []
        props["manage_master_user_password"] = False
        props.pop("dbi_resource_id", None)
        instance = self.backend.create_db_instance(props)
        for key in ("backup_retention_period", "deletion_protection", "publicly_accessible",
                    "multi_az"):
            if key in props:
                setattr(instance, key, props[key])
        # Recorded for tests: the moment asked for (None: the latest restorable time).
        instance.drill_restore_time = None if use_latest else restore_time
        return ActionResult({"DBInstance": instance})

    RDSResponse.restore_db_instance_to_point_in_time = restore_to_point_in_time


def fix_rds_tag_characters():
    """moto stores any RDS tag. AWS accepts a key of 1 to 128 and a value of 0 to 256 Unicode
    characters, "can't be prefixed with aws: or rds:" and "can only contain only the set of Unicode
    letters, digits, white-space, '_', '.', ':', '/', '=', '+', '-', '@'" (Tag, RDS API reference),
    and refuses the call otherwise. A tag the drill builds from free text (a report line with
    parentheses or commas) would pass here and fail on the first real night; now it fails here."""
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import TaggingMixin

    allowed = set("_.:/=+-@")

    def valid(text, low, high):
        return (
            low <= len(text) <= high
            and not text.startswith(("aws:", "rds:"))
            and all(c.isalpha() or c.isnumeric() or c.isspace() or c in allowed for c in text)
        )

    setter = TaggingMixin.tags.fset

    def tags(self, value):
        for tag in value or []:
            key, val = tag["Key"], tag.get("Value") or ""
            if not valid(key, 1, 128) or not valid(val, 0, 256):
                raise RDSClientError(
                    "InvalidParameterValue",
                    f"Invalid tag {key!r}={val!r}: keys are 1-128 and values 0-256 letters, digits, "
                    "white space or _ . : / = + - @, not prefixed with aws: or rds:",
                )
        setter(self, value)

    TaggingMixin.tags = TaggingMixin.tags.setter(tags)
# Aurora PostgreSQL versions from which Serverless v2 scales to 0 ACUs (auto-pause), as the
# Aurora User Guide's "Aurora Serverless v2 capacity" lists them: 13.15, 14.12, 15.7, 16.3 and
# every later minor and major version. Below them the smallest minimum is 0.5 ACUs.
AURORA_PG_AUTO_PAUSE_FROM = {13: 15, 14: 12, 15: 7, 16: 3}


def aurora_pg_min_capacity(version):
    try:
        major, minor = (int(x) for x in str(version).split(".")[:2])
    except ValueError:
        return 0.5
    if major > max(AURORA_PG_AUTO_PAUSE_FROM):
        return 0.0
    threshold = AURORA_PG_AUTO_PAUSE_FROM.get(major)
    return 0.0 if threshold is not None and minor >= threshold else 0.5


def fix_rds_cluster_restores():
    """Aurora cluster restores as the RDS API reference describes them. moto 5.2.1 has:
    - RestoreDBClusterFromSnapshot (and ...ToPointInTime) that copy only *truthy* request
      parameters over the source's settings, so DeletionProtection=false and
      CopyTagsToSnapshot=false were ignored and a temp restored from a protected production
      cluster came out protected. AWS applies them; so do we.
    - CreateDBInstance into a cluster that is still `creating`: AWS allows instances "only after
      the RestoreDBClusterFromSnapshot operation has completed and the DB cluster is available"
      (API reference). Now InvalidDBClusterStateFault until the restored cluster has been
      described once (moto reports it available from then on).
    - no DescribeDBEngineVersions: now, for aurora-postgresql, each asked version with its
      ServerlessV2FeaturesSupport (MinCapacity 0 where the version supports auto-pause, else
      0.5; MaxCapacity 256).
    - a restore into an existing cluster identifier silently replaced that cluster; AWS answers
      DBClusterAlreadyExistsFault (a retried restore relies on it to find its own cluster).
    (DeleteDBCluster of a cluster that still has instances is already refused with
    InvalidDBClusterStateFault, as in AWS.)"""
    from moto.core.responses import ActionResult
    from moto.core.utils import camelcase_to_underscores
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend
    from moto.rds.responses import RDSResponse

    def apply_falsy(cluster, overrides):
        # Not available until someone has described it since (moto's own status flips on the
        # first read, which the restore's response already is).
        cluster._drill_restoring = True
        for key, value in overrides.items():
            if isinstance(value, bool) and not value:
                attr = camelcase_to_underscores(key) if key[:1].isupper() else key
                if attr in ("deletion_protection", "copy_tags_to_snapshot"):
                    setattr(cluster, attr, False)
        return cluster

    def refuse_existing(backend, identifier):
        if identifier in backend.clusters:
            raise RDSClientError("DBClusterAlreadyExistsFault", "DB cluster already exists")

    from_snapshot = RDSBackend.restore_db_cluster_from_snapshot

    def restore_db_cluster_from_snapshot(self, from_snapshot_id, overrides):
        refuse_existing(self, overrides.get("db_cluster_identifier") or overrides.get("DBClusterIdentifier"))
        return apply_falsy(from_snapshot(self, from_snapshot_id, overrides), overrides)

    RDSBackend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot

    to_point = RDSBackend.restore_db_cluster_to_point_in_time

    def restore_db_cluster_to_point_in_time(self, *args, **overrides):
        refuse_existing(self, args[0] if args else overrides.get("db_cluster_identifier"))
        return apply_falsy(to_point(self, *args, **overrides), overrides)

    RDSBackend.restore_db_cluster_to_point_in_time = restore_db_cluster_to_point_in_time

    create_instance = RDSBackend.create_db_instance

    def create_db_instance(self, db_kwargs):
        cluster_id = db_kwargs.get("db_cluster_identifier") or db_kwargs.get("DBClusterIdentifier")
        cluster = self.clusters.get(cluster_id) if cluster_id else None
        if cluster is not None and (
            getattr(cluster, "_drill_restoring", False) or cluster._status != "available"
        ):
            raise RDSClientError(
                "InvalidDBClusterStateFault",
                f"DB cluster {cluster_id} is not in the available state (still being restored).",
            )
        return create_instance(self, db_kwargs)

    RDSBackend.create_db_instance = create_db_instance

    describe_clusters = RDSBackend.describe_db_clusters

    def describe_db_clusters(self, *args, **kwargs):
        clusters = describe_clusters(self, *args, **kwargs)
        for cluster in clusters:
            cluster._drill_restoring = False
        return clusters

    RDSBackend.describe_db_clusters = describe_db_clusters

    def describe_db_engine_versions(self):
        engine = self.params.get("Engine")
        version = self.params.get("EngineVersion")
        versions = []
        if engine == "aurora-postgresql" and version:
            versions.append({
                "Engine": engine,
                "EngineVersion": version,
                "DBParameterGroupFamily": f"aurora-postgresql{str(version).split('.')[0]}",
                "ServerlessV2FeaturesSupport": {
                    "MinCapacity": aurora_pg_min_capacity(version),
                    "MaxCapacity": 256.0,
                },
            })
        return ActionResult({"DBEngineVersions": versions})

    RDSResponse.describe_db_engine_versions = describe_db_engine_versions


def fix_rds_cluster_restore_of_managed_password():
    """moto 5.2.1's DBCluster.get_cfg (used by RestoreDBClusterFromSnapshot/ToPointInTime) pops
    `_master_user_password`, which a cluster created with ManageMasterUserPassword never has: the
    restore answered 500. AWS restores such a cluster's snapshots; the restored cluster has no
    managed secret until ModifyDBCluster turns it on (RestoreDBClusterFromSnapshot and
    RestoreDBClusterToPointInTime take no ManageMasterUserPassword)."""
    from moto.rds.models import DBCluster

    original = DBCluster.get_cfg

    def get_cfg(self):
        had = "_master_user_password" in self.__dict__
        if not had:
            # The snapshot's own password hash, unknown to the caller (moto wants some value).
            self.__dict__["_master_user_password"] = "from-the-snapshot"
        try:
            cfg = original(self)
        finally:
            if not had:
                del self.__dict__["_master_user_password"]
        # Neither cluster restore call takes ManageMasterUserPassword: the restored cluster has
        # no managed secret until ModifyDBCluster turns it on.
        cfg["manage_master_user_password"] = False
        cfg.pop("master_user_secret", None)
        return cfg

    DBCluster.get_cfg = get_cfg


def fix_rds_managed_secret_username():
    """moto 5.2.1's RDS-managed master secret holds {"username": "admin", ...} whatever the
    resource's master user. AWS's secret holds the master username (the user the drill connects
    as): restored clusters and instances keep the snapshot's master username. Now the secret
    names the resource's master user; the password stays moto's (AWS generates one)."""
    import json

    from moto.rds.models import MasterUserSecret

    original = MasterUserSecret._generate_secret_string

    def _generate_secret_string(self):
        credentials = json.loads(original(self))
        username = getattr(self.resource, "master_username", None)
        if username:
            credentials["username"] = username
        return json.dumps(credentials)

    MasterUserSecret._generate_secret_string = _generate_secret_string


def fix_rds_cluster_automated_backups():
    """moto 5.2.1 has no DescribeDBClusterAutomatedBackups, ignores DeleteDBCluster's
    DeleteAutomatedBackups, and restores a point in time only from a live cluster. AWS: "When you
    delete a provisioned or Aurora Serverless v2 DB cluster, you can retain automated backups"
    (DeleteAutomatedBackups=false; the default removes them); DescribeDBClusterAutomatedBackups
    "displays backups for both current and deleted DB clusters" (a deleted one's Status
    "retained", a cluster-auto-backup ARN, its RestoreWindow), its DBClusterIdentifier "must match
    the identifier of an existing DB cluster", and its Filters take `status`, `db-cluster-id` and
    `db-cluster-resource-id`; RestoreDBClusterToPointInTime restores a retained backup named by
    SourceDbClusterResourceId, to a time inside its window, without the source's managed master
    secret (the call takes no ManageMasterUserPassword). Now all of that. Cross-region
    replication of automated backups is instance-only: none."""
    import datetime as dt
    import uuid

    from moto.core.responses import ActionResult
    from moto.rds.exceptions import DBClusterNotFoundError, InvalidParameterCombination, RDSClientError
    from moto.rds.models import RDSBackend
    from moto.rds.responses import RDSResponse

    def now():
        return dt.datetime.now(dt.timezone.utc)

    def retained(backend):
        return backend.__dict__.setdefault("_drill_retained_cluster_backups", [])

    def arn(backend):
        return f"arn:aws:rds:{backend.region_name}:{backend.account_id}:cluster-auto-backup:cab-{uuid.uuid4().hex[:26]}"

    def entry(backend, cluster, status, latest):
        # One stable ARN per live cluster, kept across describes.
        arns = backend.__dict__.setdefault("_drill_live_cluster_backup_arns", {})
        return {
            "DBClusterIdentifier": cluster.db_cluster_identifier,
            "DbClusterResourceId": cluster.db_cluster_resource_id,
            "DBClusterAutomatedBackupsArn": arns.setdefault(cluster.db_cluster_resource_id, arn(backend)),
            "Engine": cluster.engine,
            "EngineVersion": cluster.engine_version,
            "Status": status,
            "BackupRetentionPeriod": cluster.backup_retention_period,
            "Region": backend.region_name,
            "RestoreWindow": {"EarliestTime": _utc(cluster.earliest_restorable_time), "LatestTime": latest},
            # What a restore needs once the cluster is gone (AWS keeps the cluster's properties).
            "_cluster": cluster,
        }

    def entries(backend):
        live = [entry(backend, c, "active", now()) for c in backend.clusters.values()
                if (c.backup_retention_period or 0) > 0]
        return live + retained(backend)

    original_delete = RDSResponse.delete_db_cluster

    def delete_db_cluster(self):
        retain = str(self.params.get("DeleteAutomatedBackups", "true")).lower() == "false"
        cluster = self.backend.clusters.get(self.params.get("DBClusterIdentifier"))
        result = original_delete(self)
        if retain and cluster is not None:
            retained(self.backend).append(entry(self.backend, cluster, "retained", now()))
        return result

    def describe_db_cluster_automated_backups(self):
        name = self.params.get("DBClusterIdentifier")
        if name is not None and name not in self.backend.clusters:
            raise DBClusterNotFoundError(name)
        resource_id = self.params.get("DbClusterResourceId")
        filters = {f["Name"]: f["Values"] for f in self.params.get("Filters") or []}
        found = [b for b in entries(self.backend)
                 if (name is None or b["DBClusterIdentifier"] == name)
                 and (resource_id is None or b["DbClusterResourceId"] == resource_id)
                 and ("status" not in filters or b["Status"] in filters["status"])
                 and ("db-cluster-id" not in filters or b["DBClusterIdentifier"] in filters["db-cluster-id"])
                 and ("db-cluster-resource-id" not in filters
                      or b["DbClusterResourceId"] in filters["db-cluster-resource-id"])]
        shaped = [{k: v for k, v in b.items() if not k.startswith("_")} for b in found]
        return ActionResult({"DBClusterAutomatedBackups": shaped})

    RDSResponse.delete_db_cluster = delete_db_cluster
    RDSResponse.describe_db_cluster_automated_backups = describe_db_cluster_automated_backups

    to_point = RDSBackend.restore_db_cluster_to_point_in_time

    def restore_db_cluster_to_point_in_time(self, *args, **kwargs):
        resource_id = kwargs.pop("source_db_cluster_resource_id", None)
        restore_time = kwargs.get("restore_to_time")
        if restore_time is not None and kwargs.get("use_latest_restorable_time"):
            raise InvalidParameterCombination(
                "Cannot specify both RestoreToTime and UseLatestRestorableTime."
            )
        source = kwargs.get("source_db_cluster_identifier")
        if resource_id is not None and source is not None:
            raise InvalidParameterCombination(
                "Specify SourceDBClusterIdentifier or SourceDbClusterResourceId, not both."
            )
        if resource_id is not None:
            found = [b for b in entries(self) if b["DbClusterResourceId"] == resource_id]
            if not found:
                raise RDSClientError(
                    "DBClusterAutomatedBackupNotFoundFault",
                    f"No automated backup of the DB cluster resource {resource_id}.",
                )
            backup = found[-1]
        elif source in self.clusters:
            backup = entry(self, self.clusters[source], "active", now())
        else:
            # moto's own restore would take the first cluster it lists.
            raise DBClusterNotFoundError(source)
        window = backup["RestoreWindow"]
        _check_restore_time("RestoreToTime", restore_time, window["EarliestTime"], window["LatestTime"])
        # No ManageMasterUserPassword on this call: no managed secret until ModifyDBCluster
        # (moto copied the source's).
        kwargs["manage_master_user_password"] = False
        if "_master_user_password" not in backup["_cluster"].__dict__:
            # The backup's own password hash, unknown to the caller (moto wants some value).
            kwargs["master_user_password"] = "from-the-backup"
        if resource_id is None:
            return to_point(self, *args, **kwargs)
        # moto copies the source from its cluster list: lend it the deleted cluster meanwhile
        # (under its own name, which a re-created cluster may hold: put that one back after).
        lent = backup["_cluster"]
        name = lent.db_cluster_identifier
        holder = self.clusters.get(name)
        self.clusters[name] = lent
        try:
            kwargs["source_db_cluster_identifier"] = name
            restored = to_point(self, *args, **kwargs)
        finally:
            if holder is None:
                del self.clusters[name]
            else:
                self.clusters[name] = holder
        restored.drill_restored_from_resource_id = resource_id
        return restored

    RDSBackend.restore_db_cluster_to_point_in_time = restore_db_cluster_to_point_in_time


def fix_stepfunctions_map_run_children():
    """moto 5.2.1 runs a Distributed Map's iterations in the parent execution and throws their
    events away (a fresh EventManager per Map Run): there are no child executions, ListExecutions
    takes no mapRunArn, and map runs started inside an iteration are listed as the parent's. In
    AWS each iteration is a child workflow execution with its own history, ListExecutions with
    mapRunArn (and no stateMachineArn: one or the other) lists a Map Run's children, and
    ListMapRuns lists the Map Runs the given execution started. Record each iteration as a child:
    its own events and Map Runs, listed by its Map Run, its history by its ARN."""
    import datetime
    import threading
    import uuid

    from moto.core.responses import ActionResult
    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.stepfunctions.exceptions import ResourceNotFound, ValidationException
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (
        DistributedItemProcessorWorker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record import (
        MapRunRecordPoolManager,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
    from moto.stepfunctions.responses import StepFunctionResponse

    lock = threading.Lock()
    by_run = {}  # Map Run ARN -> its children, newest first (ListExecutions' order)
    by_arn = {}  # child execution ARN -> child

    original_eval_job = DistributedItemProcessorWorker._eval_job

    def _eval_job(self, env, job):
        run = self._map_run_record.map_run_arn
        # mapRun:<machine>/<label>:<run id> -> execution:<machine>/<label>:<child id>, as AWS
        # names a Map Run's children.
        head, rest = run.split(":mapRun:", 1)
        name = str(uuid.uuid4())
        child = {
            "executionArn": f"{head}:execution:{rest.rsplit(':', 1)[0]}:{name}",
            "name": name,
            "mapRunArn": run,
            "stateMachineArn": self._map_run_record.map_state_machine_arn,
            "status": "RUNNING",
            "startDate": iso_8601_datetime_with_milliseconds(
                datetime.datetime.now(tz=datetime.timezone.utc)
            ),
            "events": EventManager(),
        }
        with lock:
            by_run.setdefault(run, []).insert(0, child)
            by_arn[child["executionArn"]] = child
        # The job's frame is the child: its events and the Map Runs it starts are its own.
        env.event_manager = child["events"]
        env.map_run_record_pool_manager = MapRunRecordPoolManager()
        try:
            original_eval_job(self, env, job)
        finally:
            state = env.program_state()
            if isinstance(state, ProgramStopped):
                child["status"] = "ABORTED"
            elif isinstance(state, ProgramError) or job.job_output is None:
                child["status"] = "FAILED"
            else:
                child["status"] = "SUCCEEDED"

    DistributedItemProcessorWorker._eval_job = _eval_job

    original_list_executions = StepFunctionResponse.list_executions
    original_history = StepFunctionResponse.get_execution_history

    def list_executions(self):
        run = self._get_param("mapRunArn")
        if run is None:
            return original_list_executions(self)
        if self._get_param("stateMachineArn") is not None:
            raise ValidationException("specify either a mapRunArn or a stateMachineArn, not both")
        with lock:
            if run not in by_run:
                raise ResourceNotFound(run)
            children = list(by_run[run])
        # Pages as AWS does (default 100): nextToken is the index of the page's first item.
        size = self._get_int_param("maxResults") or 100
        start = int(self._get_param("nextToken") or 0)
        page = children[start : start + size]
        out = {
            "executions": [
                {k: v for k, v in c.items() if k != "events"} for c in page
            ]
        }
        if start + size < len(children):
            out["nextToken"] = str(start + size)
        return ActionResult(out)

    def get_execution_history(self):
        with lock:
            child = by_arn.get(self._get_param("executionArn"))
        if child is None:
            return original_history(self)
        return ActionResult({"events": child["events"].get_event_history()})

    StepFunctionResponse.list_executions = list_executions
    StepFunctionResponse.get_execution_history = get_execution_history


def configure():
    """What POST /moto-api/config would set, before any Lambda is created: no Docker, and a Step
    Functions executor that really runs the ASL."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.set_config(
        {"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}
    )


def main():
    port = sys.argv[1]
    # The Step Functions executor calls back into this server through MOTO_PORT.
    os.environ["MOTO_PORT"] = port
    fix_stepfunctions_terraform_calls()
    fix_stepfunctions_execution_names()
    fix_stepfunctions_repeat_executions()
    fix_stepfunctions_map_run_children()
    fix_rds_restore_falsy_overrides()
    fix_rds_restore_managed_secret_and_capacity()
    fix_rds_snapshot_arns()
    fix_rds_snapshot_describe_constraints()
    fix_iam_policy_size_quotas()
    fix_s3_bucket_policy_conditions()
    fix_s3_multipart_object_lock()
    fix_lambda_invoke_forwarding()
    fix_rds_unique_resource_ids()
    fix_rds_point_in_time_restores()
    fix_rds_tag_characters()
    fix_rds_cluster_restores()
    fix_rds_cluster_restore_of_managed_password()
    fix_rds_managed_secret_username()
    fix_rds_cluster_automated_backups()
    configure()
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main()
