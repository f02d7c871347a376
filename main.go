// Command packer-plugin-asg is the Packer plugin that rolls Auto Scaling
// groups onto a freshly baked AMI.
package main

import (
	"fmt"
	"log"
	"os"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/asg-rollout/packer-plugin-asg/datasource/preflight"
	"github.com/asg-rollout/packer-plugin-asg/post-processor/rollout"
	"github.com/asg-rollout/packer-plugin-asg/version"
)

func main() {
	// Everything the plugin logs reaches PACKER_LOG through its stderr;
	// route it through Packer's secret filter so credentials registered
	// during Configure never appear there.
	packersdk.LogSecretFilter.SetOutput(os.Stderr)
	log.SetOutput(&packersdk.LogSecretFilter)

	pps := plugin.NewSet()
	pps.RegisterPostProcessor("rollout", new(rollout.PostProcessor))
	// Checks the post-processor's targets at the start of the build, before
	// the bake. Packer names a component after the plugin and the name it
	// is registered under: data "asg-rollout-preflight" "web" { ... }.
	pps.RegisterDatasource("rollout-preflight", new(preflight.Datasource))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
