# Bakes an Ubuntu AMI for the "app" service and rolls the app Auto Scaling
# group onto it with an instance refresh. See README.md in this directory.

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.8.2"
    }
    asg = {
      source  = "github.com/asg-rollout/asg"
      version = ">= 0.1.0"
    }
  }
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region of the build and of the Auto Scaling group."
}

variable "asg_name" {
  type        = string
  default     = "app"
  description = "Name of the Auto Scaling group to roll onto the new AMI."
}

variable "rollout_alarms" {
  type        = list(string)
  default     = []
  description = "CloudWatch alarms that fail (and roll back) the refresh when they go into ALARM, for example a 5xx-rate alarm on the group's load balancer."
}

source "amazon-ebs" "app" {
  region        = var.region
  instance_type = "t3.small"
  ssh_username  = "ubuntu"

  ami_name        = "app-{{timestamp}}"
  ami_description = "app service, Ubuntu 24.04, built by Packer"

  source_ami_filter {
    filters = {
      name                = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["099720109477"] # Canonical
    most_recent = true
  }

  # A failed or interrupted roll-out makes Packer destroy the AMI it just
  # built, possibly while replaced instances run on it. With protection on,
  # that deregistration fails and the AMI stays.
  deregistration_protection {
    enabled = true
  }

  tags = {
    Name      = "app"
    Service   = "app"
    SourceAMI = "{{ .SourceAMI }}"
    BuiltBy   = "packer"
  }
}

build {
  sources = ["source.amazon-ebs.app"]

  provisioner "shell" {
    inline = [
      "cloud-init status --wait",
      "sudo apt-get update",
      "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y nginx",
      "sudo systemctl enable nginx",
    ]
  }

  post-processors {
    # First in the chain: records the AMI, and keeps it if the roll-out after
    # it fails (Packer keeps a builder artifact that a successful first
    # post-processor of a chain asks to keep).
    post-processor "manifest" {
      output     = "manifest.json"
      strip_path = true
    }

    post-processor "asg-rollout" {
      region = var.region

      target {
        auto_scaling_group = var.asg_name
      }

      instance_refresh {
        # Never drop below desired capacity; launch a replacement before
        # terminating the instance it replaces.
        # Setting these overrides the group's own instance maintenance
        # policy; leave them out to use it.
        min_healthy_percentage = 100
        max_healthy_percentage = 110

        instance_warmup = "3m"

        # Replace a quarter of the group, pause ten minutes, then the rest.
        checkpoint_percentages = [25, 100]
        checkpoint_delay       = "10m"

        # Keep watching the alarms for 15 minutes after the last replacement.
        alarms    = var.rollout_alarms
        bake_time = "15m"

        skip_matching = true
        auto_rollback = true
      }

      on_refresh_in_progress = "fail"
      on_interrupt           = "rollback"
      on_timeout             = "rollback"
      timeout                = "90m"
    }
  }
}
