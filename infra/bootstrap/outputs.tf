output "state_bucket" {
  description = "Name of the state bucket: put it in the main stack's backend config."
  value       = aws_s3_bucket.state.bucket
}

output "backend_config" {
  description = "Contents for infra/backend.hcl."
  value       = <<-HCL
    bucket = "${aws_s3_bucket.state.bucket}"
    key    = "restore-drill/terraform.tfstate"
    region = "${var.region}"
  HCL
}
