# Check the Auto Scaling group before baking, then bake and roll it.
#
# The asg-rollout-preflight data source runs when `packer build` starts, before
# the builder launches anything: a typo in the group name, a refresh someone
# else is running, a group AWS could not roll back, or a missing permission
# fails the build in seconds instead of after the bake.

packer {
  required_plugins {
    amazon = {
      version = ">= 1.8.2"
      source  = "github.com/hashicorp/amazon"
    }
    asg = {
      version = ">= 0.1.0"
      source  = "github.com/asg-rollout/asg"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "group" {
  type    = string
  default = "app"
}

locals {
  # The same settings for the check and for the roll-out.
  on_refresh_in_progress = "fail"
}

data "asg-rollout-preflight" "app" {
  region                 = var.region
  on_refresh_in_progress = local.on_refresh_in_progress
  target {
    auto_scaling_group = var.group
  }
  instance_refresh {
    min_healthy_percentage = 90
    instance_warmup        = "3m"
  }
}

data "amazon-ami" "ubuntu" {
  region      = var.region
  owners      = ["099720109477"] # Canonical
  most_recent = true
  filters = {
    name                = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
    virtualization-type = "hvm"
  }
}

source "amazon-ebs" "app" {
  region        = var.region
  source_ami    = data.amazon-ami.ubuntu.id
  instance_type = "t3.small"
  ssh_username  = "ubuntu"
  ami_name      = "app-{{timestamp}}"
  deregistration_protection {
    enabled = true
  }
  tags = {
    # What the group ran before this AMI, as the pre-flight found it.
    replaces         = data.asg-rollout-preflight.app.groups[0].image_id
    launch_template  = data.asg-rollout-preflight.app.groups[0].launch_template_id
    replaces_version = data.asg-rollout-preflight.app.groups[0].current_version
  }
}

build {
  sources = ["source.amazon-ebs.app"]

  provisioner "shell" {
    inline = ["sudo apt-get update", "sudo apt-get install -y nginx"]
  }

  post-processor "asg-rollout" {
    region                 = var.region
    on_refresh_in_progress = local.on_refresh_in_progress
    target {
      auto_scaling_group = var.group
    }
    instance_refresh {
      min_healthy_percentage = 90
      instance_warmup        = "3m"
    }
  }
}
