// Package version holds the plugin's version, set at release time through
// -ldflags by GoReleaser.
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

var (
	// Version is the main version number being run.
	Version = "0.1.0"

	// VersionPrerelease is a marker such as "dev" or "beta"; empty for a
	// release.
	VersionPrerelease = "dev"

	// VersionMetadata is build metadata, such as a commit.
	VersionMetadata = ""

	// PluginVersion is what the plugin reports to Packer.
	PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
)
