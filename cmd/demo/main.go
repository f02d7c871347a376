// Command demo shows the plugin end to end without an AWS account: it
// starts the local AWS (awsemu), seeds a four-instance Auto Scaling
// group, runs the real `packer build` on example/demo.pkr.hcl (the real
// amazon-ebs builder bakes, asg-rollout rolls), and prints the fleet before
// and after: which AMI and version each instance runs.
//
// Run it from the repository root with `make demo`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/asg-rollout/packer-plugin-asg/awsemu"
	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
	"github.com/asg-rollout/packer-plugin-asg/internal/packerexec"
)

const (
	region = "us-east-1"
	group  = "app"
	// speed makes the local AWS 20 times faster than real time, so a
	// 60-second warm-up per replacement takes three seconds.
	speed = 20
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	template := filepath.Join(root, "example", "demo.pkr.hcl")
	if _, err := os.Stat(template); err != nil {
		return fmt.Errorf("run the demo from the repository root (make demo): %w", err)
	}

	step("Preparing packer %s, the amazon plugin %s and this plugin (the first run builds them)", packerexec.PackerVersion, packerexec.AmazonVersion)
	pk, err := packerexec.Setup(ctx, root)
	if err != nil {
		return err
	}
	defer pk.Close()

	step("Starting the local AWS (moto, plus instance refresh), %dx faster than real time", speed)
	emu, err := awsemu.Start(ctx, awsemu.Options{Speed: speed})
	if err != nil {
		return err
	}
	defer emu.Close()
	fmt.Printf("    endpoint: %s\n", emu.URL())

	c := fleet.NewClients(emu.URL(), region)
	seedCtx, cancel := context.WithTimeout(ctx, time.Minute)
	seeded, err := c.Seed(seedCtx, fleet.Spec{Group: group, Desired: 4})
	cancel()
	if err != nil {
		return err
	}
	before, err := c.Snapshot(ctx, group)
	if err != nil {
		return err
	}
	step("The fleet before: four instances on %s", seeded.ImageID)
	fmt.Println(indent(before.String()))

	step("packer build example/demo.pkr.hcl: bake with amazon-ebs, roll with asg-rollout")
	cmd := pk.Command(ctx, root, packerexec.EndpointEnv(emu.URL()), "build", "-color=false",
		"-var", "endpoint="+emu.URL(), "-var", "source_ami="+seeded.ImageID, "-var", "asg_name="+group, template)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	buildErr := cmd.Run()

	after, err := c.Snapshot(context.Background(), group)
	if err != nil {
		return err
	}
	step("The fleet after")
	fmt.Println(indent(after.String()))
	if buildErr != nil {
		return fmt.Errorf("packer build failed: %w", buildErr)
	}
	images := after.Images()
	if len(images) != 1 || images[seeded.ImageID] != 0 {
		return fmt.Errorf("the fleet is not on one new AMI: %v", images)
	}
	for ami, n := range images {
		step("Done: all %d instances run the new AMI %s, from launch template %s version %s", n, ami, after.LaunchTemplateID, after.Version)
	}
	return nil
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func indent(s string) string {
	out := "    "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "    "
		}
	}
	return out
}
