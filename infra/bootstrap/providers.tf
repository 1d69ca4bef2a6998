provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, { "restore-drill:managed-by" = "terraform" })
  }
}
