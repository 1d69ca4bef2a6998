terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
  # Local state on purpose: this stack creates the bucket every other stack keeps its state in.
}
