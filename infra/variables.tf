variable "region" {
  description = "AWS region of the drill stack (and of the source databases it restores)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of this drill stack; prefixes every resource it creates."
  type        = string
  default     = "restore-drill"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
