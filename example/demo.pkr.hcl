# demo.pkr.hcl bakes an AMI and rolls the Auto Scaling group "app" onto it,
# against the local AWS that `make demo` starts (no AWS account needed).
# It is app.pkr.hcl with the endpoints pointed at that local AWS and no
# provisioning (the local AWS runs no real instances).

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

variable "endpoint" {
  type        = string
  description = "URL of the local AWS (printed by make demo)."
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "source_ami" {
  type        = string
  description = "An AMI the local AWS ships."
}

variable "asg_name" {
  type    = string
  default = "app"
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "app" {
  region        = var.region
  source_ami    = var.source_ami
  instance_type = "t3.small"
  ami_name      = "app-${local.timestamp}"
  communicator  = "none"

  # The local AWS: endpoints and test credentials.
  custom_endpoint_ec2        = var.endpoint
  access_key                 = "test"
  secret_key                 = "test"
  skip_credential_validation = true
  skip_region_validation     = true
  skip_metadata_api_check    = true

  # Packer deregisters the builder's AMI when a build fails; protection
  # keeps it for whatever fleet may run it.
  deregistration_protection {
    enabled = true
  }

  tags = {
    Name = "app"
  }
}

build {
  sources = ["source.amazon-ebs.app"]

  post-processor "asg-rollout" {
    custom_endpoint_ec2         = var.endpoint
    custom_endpoint_autoscaling = var.endpoint
    access_key                  = "test"
    secret_key                  = "test"

    target {
      auto_scaling_group = var.asg_name
    }

    instance_refresh {
      min_healthy_percentage = 100
      max_healthy_percentage = 150
      instance_warmup        = "60s"
    }

    # The local AWS runs 20 times faster than real time; poll to match.
    poll_min_delay = "250ms"
    poll_max_delay = "1s"
    timeout        = "30m"
  }
}
