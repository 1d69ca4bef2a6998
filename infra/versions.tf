terraform {
  required_version = ">= 1.11" # S3 backend use_lockfile (S3-native state locking) needs 1.11

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # Remote state with S3-native locking; bucket, key and region come from a backend config file
  # (see README: `terraform init -backend-config=backend.hcl`). The state bucket itself is made by
  # infra/bootstrap/.
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
