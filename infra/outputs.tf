output "name" {
  description = "Name of the drill stack."
  value       = var.name
}
