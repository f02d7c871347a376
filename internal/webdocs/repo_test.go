package webdocs

import (
	"os"
	"testing"
)

// project is the checker for this repository: the sites its docs may cite.
func project() Checker {
	return Checker{
		Checkout: os.DirFS("../.."),
		Repo:     "asg-rollout/packer-plugin-asg",
		Branch:   "main",
		Allowed: []string{
			"developer.hashicorp.com",
			"docs.aws.amazon.com",
			"aws.amazon.com",
			"www.mozilla.org",
			"pkg.go.dev",
			"go.dev",
		},
	}
}

// TestRegistryPages checks every link of .web-docs/ as the integrations
// registry shows it. It reads the committed pages: `make check-generate`
// is what keeps them in step with docs/.
func TestRegistryPages(t *testing.T) {
	r, err := project().CheckRegistry(".web-docs")
	if err != nil {
		t.Fatal(err)
	}
	// The plugin page, the component page and metadata.hcl, each with links.
	if r.Pages < 3 || r.Links < 3 {
		t.Fatalf("read %d pages with %d links in .web-docs; want at least 3 of each: is it generated?", r.Pages, r.Links)
	}
	for _, p := range r.Problems {
		t.Error(p)
	}
}

// TestSourcePages checks every link of docs/ as GitHub shows it.
func TestSourcePages(t *testing.T) {
	r, err := project().CheckSources("docs")
	if err != nil {
		t.Fatal(err)
	}
	// The plugin page, the component page, failure modes and six guides.
	if r.Pages < 9 || r.Links < 9 {
		t.Fatalf("read %d pages with %d links in docs; want at least 9 of each", r.Pages, r.Links)
	}
	for _, p := range r.Problems {
		t.Error(p)
	}
}
