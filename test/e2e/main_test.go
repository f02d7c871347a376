// Package e2e drives the real thing: a real packer binary, the real
// amazon-ebs builder and this plugin, against the local AWS of
// awsemu (moto plus instance refresh). Each test bakes an AMI and
// rolls a seeded fleet with one `packer build`, then checks the fleet the
// way a user would: which AMI is each instance running?
//
// The first run builds packer and the amazon plugin (several minutes);
// later runs reuse them from the cache. moto_server must be on PATH.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/asg-rollout/packer-plugin-asg/awsemu"
	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
	"github.com/asg-rollout/packer-plugin-asg/internal/packerexec"
)

// speed is how much faster than real time the local AWS runs: a 60-second
// warm-up takes 0.3 seconds.
const speed = 200

// packer is the packer the tests run, packerexec.PackerVersion; packers
// holds it and every other version the suite runs (MinPackerVersion), by
// version. TestMain sets them up once for the whole package.
var (
	packer  *packerexec.Env
	packers = map[string]*packerexec.Env{}
)

// packerVersions are the packer releases the suite runs.
var packerVersions = []string{packerexec.PackerVersion, packerexec.MinPackerVersion}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself
	}
	if _, err := exec.LookPath("moto_server"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: moto_server is not on PATH; install it with: pip install 'moto[server]'")
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	root, _ := filepath.Abs("../..")
	err := setupPackers(ctx, root)
	cancel()
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	} else {
		code = m.Run()
	}
	for _, pk := range packers {
		pk.Close()
	}
	os.Exit(code)
}

// setupPackers builds every packer version at once (with the amazon
// plugin), then installs the plugins into one Env per version.
func setupPackers(ctx context.Context, root string) error {
	if _, err := packerexec.BuildTools(ctx, root, packerVersions...); err != nil {
		return err
	}
	for _, v := range packerVersions {
		pk, err := packerexec.SetupVersion(ctx, root, v)
		if err != nil {
			return err
		}
		packers[v] = pk
	}
	packer = packers[packerexec.PackerVersion]
	return nil
}

// env is one test's local AWS and working directory, and the packer its
// builds run (packer unless the test chooses another).
type env struct {
	t   *testing.T
	emu *awsemu.Server
	dir string
	pk  *packerexec.Env
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emu, err := awsemu.Start(ctx, awsemu.Options{Speed: speed})
	if err != nil {
		t.Fatalf("starting the local AWS: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	return &env{t: t, emu: emu, dir: t.TempDir(), pk: packer}
}

func (e *env) clients(region string) *fleet.Clients { return fleet.NewClients(e.emu.URL(), region) }

func (e *env) seed(region string, s fleet.Spec) *fleet.Seeded {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seeded, err := e.clients(region).Seed(ctx, s)
	if err != nil {
		e.t.Fatalf("seeding %s in %s: %v", s.Group, region, err)
	}
	return seeded
}

func (e *env) snapshot(region, group string) *fleet.State {
	e.t.Helper()
	st, err := e.clients(region).Snapshot(context.Background(), group)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// build is a template to bake and roll.
type build struct {
	Endpoint   string
	Region     string
	SourceAMI  string
	AMIName    string
	AMIRegions []string
	AMITags    map[string]string
	Targets    []target
	Refresh    string // body of the instance_refresh block
	Extra      string // more post-processor attributes
	// PostProcessorKey is the post-processor's access_key and secret_key,
	// "test" when empty. The plugin masks its keys wherever they appear in
	// its output, so "test" also masks part of "$Latest" or "latest".
	PostProcessorKey string
}

// target is one target block. Tags and Wave are optional: a target with
// Tags and no Group chooses groups by tags.
type target struct {
	Group, Region string
	Tags          map[string]string
	Wave          int
}

// localBuilder is the part of every template's amazon-ebs source block,
// after its region and source_ami, that bakes against the local AWS with
// fake credentials: the data has AMIName and Endpoint.
const localBuilder = `  instance_type              = "t3.micro"
  ami_name                   = "{{.AMIName}}"
  communicator               = "none"
  custom_endpoint_ec2        = "{{.Endpoint}}"
  skip_credential_validation = true
  skip_region_validation     = true
  skip_metadata_api_check    = true
  access_key                 = "test"
  secret_key                 = "test"
`

var buildTemplate = template.Must(template.New("build").Parse(`
source "amazon-ebs" "app" {
  region                     = "{{.Region}}"
  source_ami                 = "{{.SourceAMI}}"
` + localBuilder + `{{- if .AMIRegions}}
  ami_regions = [{{range $i, $r := .AMIRegions}}{{if $i}}, {{end}}"{{$r}}"{{end}}]
{{- end}}
{{- if .AMITags}}
  tags = {
{{- range $k, $v := .AMITags}}
    "{{$k}}" = "{{$v}}"
{{- end}}
  }
{{- end}}
}

build {
  sources = ["source.amazon-ebs.app"]

  post-processor "asg-rollout" {
    access_key                  = "{{or .PostProcessorKey "test"}}"
    secret_key                  = "{{or .PostProcessorKey "test"}}"
    custom_endpoint_ec2         = "{{.Endpoint}}"
    custom_endpoint_autoscaling = "{{.Endpoint}}"
    poll_min_delay              = "100ms"
    poll_max_delay              = "500ms"
{{- range .Targets}}
    target {
{{- if or .Group (not .Tags)}}
      auto_scaling_group = "{{.Group}}"
{{- end}}
{{- if .Tags}}
      tags = {
{{- range $k, $v := .Tags}}
        "{{$k}}" = "{{$v}}"
{{- end}}
      }
{{- end}}
{{- if .Region}}
      region             = "{{.Region}}"
{{- end}}
{{- if .Wave}}
      wave               = {{.Wave}}
{{- end}}
    }
{{- end}}
    instance_refresh {
{{.Refresh}}
    }
{{.Extra}}
  }
}
`))

// write renders b into the test's directory and returns the file's path.
func (e *env) write(b build) string {
	e.t.Helper()
	if b.Endpoint == "" {
		b.Endpoint = e.emu.URL()
	}
	if b.Region == "" {
		b.Region = "us-east-1"
	}
	if b.SourceAMI == "" {
		ami, err := e.clients(b.Region).StockImage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		b.SourceAMI = ami
	}
	if b.AMIName == "" {
		b.AMIName = e.amiName()
	}
	var buf bytes.Buffer
	if err := buildTemplate.Execute(&buf, b); err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.dir, "app.pkr.hcl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// amiName is the AMI name write gives a build that sets none.
func (e *env) amiName() string {
	return "app-" + strings.ToLower(strings.ReplaceAll(e.t.Name(), "/", "-"))
}

// packerBuild runs `packer build` with the test's packer and returns its
// result.
func (e *env) packerBuild(file string, extraEnv ...string) packerexec.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := e.pk.Run(ctx, e.dir, append(e.endpointEnv(), extraEnv...), "build", "-color=false", file)
	if err != nil {
		e.t.Fatalf("running packer: %v", err)
	}
	e.t.Logf("packer build exited %d:\n%s", res.ExitCode, res.Output)
	return res
}

// endpointEnv points packer's plugins at the test's local AWS.
func (e *env) endpointEnv() []string { return packerexec.EndpointEnv(e.emu.URL()) }

// newAMI finds the AMI the build baked, by its name, in region.
func (e *env) newAMI(region, name string) string {
	e.t.Helper()
	id, err := e.clients(region).ImageByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}
