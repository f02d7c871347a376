package webdocs

import (
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary text: it must not panic, and every link
// it finds must be on a line of the text.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"[a](b) ![c](<d e> \"t\") [f][g]\n\n[g]: h\n",
		"```\n[x](y)\n```\n`[z](w)` <a href='q'>",
		"---\nfront: matter\n---\n# T\n## T\n[t](#t-1)",
		"](", "[x](", "[x](<y", "``` \n~~~\n`` ` ``", "<https://x.y/z> https://a.b/c.",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p := Parse(src)
		lines := strings.Count(src, "\n") + 1
		for _, l := range append(p.Links, p.Undefined...) {
			if l.Line < 1 || l.Line > lines {
				t.Errorf("link %q on line %d of a %d-line text", l.Target, l.Line, lines)
			}
		}
	})
}
