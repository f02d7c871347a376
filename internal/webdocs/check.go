// Package webdocs checks the links of the plugin's documentation without a
// network: docs/, the sources read on GitHub, and .web-docs/, the pages the
// Packer integrations registry shows.
//
// The registry serves each page of .web-docs/ at an address of its own and
// nothing beside it, so a relative link there 404s. Every link in .web-docs/
// must therefore be absolute: to a file of this repository on its main
// branch (which must exist in the checkout, with the heading a #fragment
// names), or to a site on an allow-list. A #fragment alone must name a
// heading of the same page. Relative links in docs/ must name files that
// exist. A link to a site is never fetched: a host that is not on the list is
// refused instead, so that a new citation is a decision, not an accident.
package webdocs

import (
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"
)

// Checker checks the pages of one checkout.
type Checker struct {
	// Checkout is the repository's working tree.
	Checkout fs.FS
	// Repo is the repository as it appears in its GitHub URLs,
	// "asg-rollout/packer-plugin-asg".
	Repo string
	// Branch is the only branch links to the repository's files may name.
	Branch string
	// Allowed lists the sites other than the repository that pages may
	// link to: a host, or a host and a path prefix ("github.com/org/repo").
	Allowed []string
}

// Problem is one link, or one page, that fails a check.
type Problem struct {
	File   string
	Line   int
	Target string
	Reason string
}

func (p Problem) String() string {
	if p.Target == "" {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Target, p.Reason)
}

// Report is the outcome of a check: what it read, and what failed.
type Report struct {
	Pages    int
	Links    int
	Problems []Problem
}

// CheckRegistry checks the pages under dir as the registry shows them: the
// README.md files, and the URLs quoted in metadata.hcl. Every link must be
// absolute, and no page may carry front matter or a title of its own (the
// registry puts one above each page).
func (c Checker) CheckRegistry(dir string) (Report, error) {
	return c.check(dir, true)
}

// CheckSources checks the .md and .mdx files under dir as GitHub shows them:
// relative links must name files of the checkout, and the headings their
// #fragments name; absolute links are held to the same rules as in
// CheckRegistry.
func (c Checker) CheckSources(dir string) (Report, error) {
	return c.check(dir, false)
}

func (c Checker) check(dir string, registry bool) (Report, error) {
	var r Report
	err := fs.WalkDir(c.Checkout, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var page Page
		switch {
		case isMarkdown(name) && (!registry || path.Base(name) == "README.md"):
			src, err := fs.ReadFile(c.Checkout, name)
			if err != nil {
				return err
			}
			page = Parse(string(src))
			if registry {
				r.Problems = append(r.Problems, registryPage(name, page)...)
			}
		case registry && path.Ext(name) == ".hcl":
			src, err := fs.ReadFile(c.Checkout, name)
			if err != nil {
				return err
			}
			page = Page{Links: quotedURLs(string(src))}
		default:
			return nil
		}
		r.Pages++
		r.Links += len(page.Links)
		for _, l := range page.Undefined {
			r.Problems = append(r.Problems, Problem{name, l.Line, "[" + l.Target + "]", "reference link with no definition of its label"})
		}
		for _, l := range page.Links {
			if reason := c.target(name, page, l.Target, registry); reason != "" {
				r.Problems = append(r.Problems, Problem{name, l.Line, l.Target, reason})
			}
		}
		return nil
	})
	sort.SliceStable(r.Problems, func(i, j int) bool {
		a, b := r.Problems[i], r.Problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return r, err
}

func registryPage(name string, page Page) []Problem {
	var out []Problem
	if page.FrontMatter {
		out = append(out, Problem{name, 1, "", "front matter: the registry would show it as text"})
	}
	for _, line := range page.Titles {
		out = append(out, Problem{name, line, "", "level-1 heading: the registry shows the page's title above it, so the page would have two"})
	}
	return out
}

// target returns why a link's target fails, or "".
func (c Checker) target(file string, page Page, target string, registry bool) string {
	if target == "" {
		return "empty link"
	}
	if strings.HasPrefix(target, "#") {
		if !page.Anchors[target[1:]] {
			return "no heading or anchor of this page has that id"
		}
		return ""
	}
	u, err := url.Parse(target)
	if err != nil {
		return "not a URL: " + err.Error()
	}
	switch {
	case u.Scheme == "" && (u.Host != "" || strings.HasPrefix(u.Path, "/")):
		return "root-relative link: it resolves against whichever site shows the page; write the absolute URL"
	case u.Scheme == "" && registry:
		return "relative link: the registry shows this page without the files beside it, so it would 404; link to https://github.com/" + c.Repo + "/blob/" + c.Branch + "/<path> instead"
	case u.Scheme == "":
		return c.file(path.Join(path.Dir(file), u.Path), u.Fragment, "")
	case u.Scheme == "http":
		return "plain http: use https"
	case u.Scheme != "https":
		return "scheme " + u.Scheme + " is not allowed"
	}
	host := strings.ToLower(u.Host)
	if rest, ok := strings.CutPrefix(strings.TrimSuffix(u.Path, "/"), "/"+c.Repo); ok && host == "github.com" && (rest == "" || rest[0] == '/') {
		return c.repoLink(strings.TrimPrefix(rest, "/"), u.Fragment)
	}
	for _, a := range c.Allowed {
		h, prefix, _ := strings.Cut(a, "/")
		if host == h && (prefix == "" || u.Path == "/"+prefix || strings.HasPrefix(u.Path, "/"+prefix+"/")) {
			return ""
		}
	}
	return "the docs do not cite " + host + u.Path + ": link to one of " + strings.Join(c.Allowed, ", ") + ", or add the site to the allow-list in internal/webdocs"
}

// repoLink checks the part of a link to this repository after its name:
// "" (the repository), issues or releases, or blob/<branch>/<file> and
// tree/<branch>/<dir>.
func (c Checker) repoLink(rest, fragment string) string {
	kind, after, _ := strings.Cut(rest, "/")
	switch kind {
	case "", "issues", "releases":
		return ""
	case "blob", "tree":
	default:
		return "links to the repository's " + kind + " pages, which cannot be checked; link to blob/" + c.Branch + "/<path>"
	}
	ref, p, _ := strings.Cut(after, "/")
	if ref != c.Branch {
		return "names " + ref + ", not " + c.Branch + ": links to other refs cannot be checked against the checkout"
	}
	p, err := url.PathUnescape(p)
	if err != nil {
		return "bad path: " + err.Error()
	}
	if p == "" {
		p = "."
	}
	want := "a file"
	if kind == "tree" {
		want = "a directory"
	}
	return c.file(p, fragment, want)
}

// file checks that name exists in the checkout (as a file or directory, or
// as what want says), and that a fragment names a heading of it.
func (c Checker) file(name, fragment, want string) string {
	info, err := fs.Stat(c.Checkout, name)
	switch {
	case err != nil:
		return name + " does not exist in the checkout"
	case want == "a file" && info.IsDir(), want == "a directory" && !info.IsDir():
		return name + " is not " + want
	case fragment == "":
		return ""
	case !isMarkdown(name):
		return ""
	}
	src, err := fs.ReadFile(c.Checkout, name)
	if err != nil {
		return err.Error()
	}
	if !Parse(string(src)).Anchors[fragment] {
		return "no heading of " + name + " has the id " + fragment
	}
	return ""
}

func isMarkdown(name string) bool {
	ext := path.Ext(name)
	return ext == ".md" || ext == ".mdx"
}

// quotedURLs finds the URLs in double-quoted strings of an HCL file.
func quotedURLs(src string) []Link {
	var out []Link
	for i, line := range strings.Split(src, "\n") {
		for _, m := range bareURLRE.FindAllString(line, -1) {
			out = append(out, Link{Target: strings.TrimRight(m, `".,`), Line: i + 1, Kind: "hcl"})
		}
	}
	return out
}
