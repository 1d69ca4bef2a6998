"""Small AWS fixtures for tests that the Rust test kit has no SDK crate for (EC2 is the largest
SDK crate; compiling it for one lookup is not worth minutes of every build).

Usage: python aws_fixture.py default-network
Prints JSON: {"vpc_id": "...", "subnet_ids": ["...", "..."]} of moto's default VPC.
       python aws_fixture.py describe-key KEY_ID
Prints JSON: {"key_id": "...", "state": "Enabled" | "PendingDeletion" | ...}.
       python aws_fixture.py create-key
Prints JSON: {"arn": "..."} of a new symmetric KMS key.
Reads AWS_ENDPOINT_URL (moto) and AWS_REGION from the environment.
"""

import json
import os
import sys

import boto3


def client(service):
    return boto3.client(
        service,
        endpoint_url=os.environ["DRILL_TEST_MOTO_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def default_network():
    ec2 = client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    vpc_id = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    # Two subnets in different AZs, as a DB subnet group needs.
    by_az = {}
    for s in subnets:
        by_az.setdefault(s["AvailabilityZone"], s["SubnetId"])
    return {"vpc_id": vpc_id, "subnet_ids": sorted(by_az.values())[:2]}


def describe_key(key_id):
    meta = client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    return {"key_id": meta["KeyId"], "state": meta["KeyState"]}


def create_key():
    return {"arn": client("kms").create_key(Description="restore-drill test key")["KeyMetadata"]["Arn"]}


if __name__ == "__main__":
    if sys.argv[1:] == ["default-network"]:
        print(json.dumps(default_network()))
    elif sys.argv[1:] == ["create-key"]:
        print(json.dumps(create_key()))
    elif len(sys.argv) == 3 and sys.argv[1] == "describe-key":
        print(json.dumps(describe_key(sys.argv[2])))
    else:
        sys.exit("usage: aws_fixture.py default-network | create-key | describe-key KEY_ID")
