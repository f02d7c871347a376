package webdocs

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// checkout is a small repository: one guide, one image, and whatever page
// the test adds.
func checkout(files map[string]string) Checker {
	fsys := fstest.MapFS{
		"docs/guides/tags.mdx": {Data: []byte("---\npage_title: Tags\n---\n\n# Tags\n\n## Which groups match\n")},
		"docs/img/flow.png":    {Data: []byte("png")},
		"LICENSE":              {Data: []byte("MPL")},
	}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return Checker{
		Checkout: fsys,
		Repo:     "asg-rollout/packer-plugin-asg",
		Branch:   "main",
		Allowed:  []string{"developer.hashicorp.com", "github.com/hashicorp/packer"},
	}
}

const blob = "https://github.com/asg-rollout/packer-plugin-asg/blob/main/"

// TestRegistryRefuses gives the checker one registry page per way a link
// can fail there, and wants exactly that link reported.
func TestRegistryRefuses(t *testing.T) {
	tests := []struct {
		name, page, want string
	}{
		{"relative inline link", "See [tags](../guides/tags.mdx).", "../guides/tags.mdx"},
		{"relative image", "![flow](img/flow.png)", "img/flow.png"},
		{"root-relative link", "Run [init](/packer/docs/commands/init).", "/packer/docs/commands/init"},
		{"relative reference definition", "See [tags][t].\n\n[t]: guides/tags.mdx\n", "guides/tags.mdx"},
		{"relative HTML href", `<a href="guides/tags.mdx">tags</a>`, "guides/tags.mdx"},
		{"relative HTML src", `<img src='img/flow.png' alt="flow">`, "img/flow.png"},
		{"relative HTML href after an id", `<a id="top" class="x"
href="guides/tags.mdx">tags</a>`, "guides/tags.mdx"},
		{"link split over lines", "See the [tags\nguide](\n../guides/tags.mdx).", "../guides/tags.mdx"},
		{"missing file of the repository", "[x](" + blob + "docs/guides/nope.mdx)", blob + "docs/guides/nope.mdx"},
		{"missing heading of a file of the repository", "[x](" + blob + "docs/guides/tags.mdx#which-group-matches)", blob + "docs/guides/tags.mdx#which-group-matches"},
		{"directory linked as blob", "[x](" + blob + "docs/guides)", blob + "docs/guides"},
		{"file linked as tree", "[x](https://github.com/asg-rollout/packer-plugin-asg/tree/main/LICENSE)", "https://github.com/asg-rollout/packer-plugin-asg/tree/main/LICENSE"},
		{"another branch", "[x](https://github.com/asg-rollout/packer-plugin-asg/blob/v0.1.0/LICENSE)", "https://github.com/asg-rollout/packer-plugin-asg/blob/v0.1.0/LICENSE"},
		{"missing in-page anchor", "## Output\n\nSee [output](#outputs).", "#outputs"},
		{"host not on the list", "[x](https://example.com/aws)", "https://example.com/aws"},
		{"repository not on the list", "[x](https://github.com/hashicorp/packer-plugin-amazon)", "https://github.com/hashicorp/packer-plugin-amazon"},
		{"plain http", "[x](http://developer.hashicorp.com/packer)", "http://developer.hashicorp.com/packer"},
		{"bare URL", "Read https://example.com/x.", "https://example.com/x"},
		{"autolink", "<https://example.com/y>", "https://example.com/y"},
		{"undefined reference", "See [tags][nowhere].", "[nowhere]"},
		{"title of its own", "# asg-rollout Post-Processor\n\nText.", "level-1 heading"},
		{"front matter", "---\npage_title: x\n---\n\nText.", "front matter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := checkout(map[string]string{".web-docs/README.md": tt.page}).CheckRegistry(".web-docs")
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Problems) != 1 {
				t.Fatalf("problems = %v, want one naming %q", r.Problems, tt.want)
			}
			if got := r.Problems[0].String(); !strings.Contains(got, tt.want) {
				t.Errorf("problem = %q, want it to name %q", got, tt.want)
			}
		})
	}
}

// TestRegistryAccepts gives the checker a page whose every link resolves,
// including the forms that must not be taken for links.
func TestRegistryAccepts(t *testing.T) {
	page := strings.Join([]string{
		"Type: `asg-rollout`",
		"",
		"## Output",
		"## Output",
		"### `$Latest`, `$Default` and version numbers",
		"#### on_failure = rollback",
		"",
		"See [output](#output), [the second](#output-1), [refs](#latest-default-and-version-numbers),",
		"[rollback](#on_failure--rollback), [anchor](#here) and <a id=\"here\"></a>.",
		"[guide](" + blob + "docs/guides/tags.mdx#which-groups-match), [dir](https://github.com/asg-rollout/packer-plugin-asg/tree/main/docs),",
		"[licence](" + blob + "LICENSE), [repo](https://github.com/asg-rollout/packer-plugin-asg), [issues](https://github.com/asg-rollout/packer-plugin-asg/issues/9),",
		"[init](https://developer.hashicorp.com/packer/docs/commands/init \"packer init\"), [packer](https://github.com/hashicorp/packer/blob/main/README.md),",
		"![flow](" + blob + "docs/img/flow.png) and [ref][Tags].",
		"",
		"[tags]: " + blob + "docs/guides/tags.mdx",
		"",
		"Code is not links: `[x](nowhere.md)` and ``a `[y](z)` b``.",
		"",
		"```hcl",
		"# a comment, not a title",
		"url = \"[x](relative.md)\"",
		"```",
		"",
		"  ~~~text",
		"  see ](relative.md) and https://example.com",
		"  ~~~",
	}, "\n")
	metadata := "license {\n  url = \"" + blob + "LICENSE\"\n}\n"
	r, err := checkout(map[string]string{".web-docs/README.md": page, ".web-docs/metadata.hcl": metadata}).CheckRegistry(".web-docs")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		t.Error(p)
	}
	if r.Pages != 2 || r.Links != 15 {
		t.Errorf("read %d pages with %d links, want 2 pages with 15", r.Pages, r.Links)
	}
}

// TestRegistryMetadata wants a metadata.hcl URL that 404s reported.
func TestRegistryMetadata(t *testing.T) {
	c := checkout(map[string]string{".web-docs/metadata.hcl": "url = \"" + blob + "LICENCE\"\n"})
	r, err := c.CheckRegistry(".web-docs")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 || r.Problems[0].Line != 1 || !strings.Contains(r.Problems[0].Reason, "LICENCE does not exist") {
		t.Errorf("problems = %v, want LICENCE on line 1 reported", r.Problems)
	}
}

// TestSources checks docs/ as GitHub shows it: relative links are fine
// when their file and heading exist.
func TestSources(t *testing.T) {
	page := strings.Join([]string{
		"---",
		"page_title: Rollout",
		"---",
		"",
		"# asg-rollout",
		"",
		"[fine](../guides/tags.mdx), [fine too](../guides/tags.mdx#which-groups-match), [image](../img/flow.png),",
		"[no file](../guides/accounts.mdx), [no heading](../guides/tags.mdx#tags-match),",
		"[root](/packer/docs), [here](#asg-rollout), [not here](#nowhere).",
	}, "\n")
	r, err := checkout(map[string]string{"docs/post-processors/rollout.mdx": page}).CheckSources("docs")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range r.Problems {
		got = append(got, p.Target)
	}
	want := []string{"../guides/accounts.mdx", "../guides/tags.mdx#tags-match", "/packer/docs", "#nowhere"}
	if !slices.Equal(got, want) {
		t.Errorf("reported %q, want %q (problems: %v)", got, want, r.Problems)
	}
	if r.Pages != 2 {
		t.Errorf("read %d pages, want 2", r.Pages)
	}
}

func TestSlug(t *testing.T) {
	tests := map[string]string{
		"Instance refresh (instance_refresh block)":  "instance-refresh-instance_refresh-block",
		"`$Latest`, `$Default` and version numbers":  "latest-default-and-version-numbers",
		"on_failure = rollback":                      "on_failure--rollback",
		"A group changed before its turn":            "a-group-changed-before-its-turn",
		"Actions on timeout and Ctrl-C":              "actions-on-timeout-and-ctrl-c",
		"See [the guide](https://example.com) first": "see-the-guide-first",
		"**Bold** and <code>code</code>":             "bold-and-code",
	}
	for heading, want := range tests {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
