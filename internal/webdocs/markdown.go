package webdocs

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Link is one link or image of a page: its target as written, the line it
// is on, and how it was written.
type Link struct {
	Target string
	Line   int
	Kind   string // "inline", "reference", "html", "autolink" or "bare"
}

// Page is what the checks need of a Markdown page.
type Page struct {
	Links []Link
	// Anchors holds the ids a #fragment can name: a slug per heading, in
	// GitHub's way (duplicates get -1, -2, ...), and HTML id and name
	// attributes.
	Anchors map[string]bool
	// Titles holds the lines of level-1 headings.
	Titles []int
	// FrontMatter is true when the page starts with a --- block.
	FrontMatter bool
	// Undefined holds full and collapsed reference links ([text][label],
	// [label][]) whose label no definition names.
	Undefined []Link
}

var (
	headingRE   = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	refDefRE    = regexp.MustCompile(`^ {0,3}\[([^\]]+)\]:[ \t]*<?([^\s>]*)>?`)
	refUseRE    = regexp.MustCompile(`\[([^\[\]]+)\]\[([^\[\]]*)\]`)
	htmlElemRE  = regexp.MustCompile(`<[a-zA-Z][^<>]*>`)
	htmlAttrRE  = regexp.MustCompile(`(?i)\s(href|src|id|name)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	autolinkRE  = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>]+)>`)
	bareURLRE   = regexp.MustCompile(`https?://[^\s<>"'` + "`" + `)\]]+`)
	inlineMDRE  = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTagRE   = regexp.MustCompile(`<[^>]+>`)
	fenceOpenRE = regexp.MustCompile("^[ \t]*(`{3,}|~{3,})")
)

// Parse reads the links, anchors and titles of a Markdown (or MDX) page.
// Fenced code blocks and code spans hold no links; nor does front matter.
func Parse(src string) Page {
	p := Page{Anchors: map[string]bool{}}
	lines := strings.Split(src, "\n")
	seen := map[string]int{}

	front := len(lines) > 0 && strings.TrimRight(lines[0], "\r") == "---"
	p.FrontMatter = front
	var fence string
	defs := map[string]bool{}
	for i, raw := range lines {
		line := strings.TrimRight(raw, "\r")
		switch {
		case front:
			if i > 0 && line == "---" {
				front = false
			}
			lines[i] = ""
			continue
		case fence != "":
			if t := strings.TrimSpace(line); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				fence = ""
			}
			lines[i] = ""
			continue
		}
		if m := fenceOpenRE.FindStringSubmatch(line); m != nil {
			fence = m[1]
			lines[i] = ""
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			if len(m[1]) == 1 {
				p.Titles = append(p.Titles, i+1)
			}
			p.Anchors[uniqueSlug(seen, Slug(m[2]))] = true
		}
		if m := refDefRE.FindStringSubmatch(line); m != nil && !strings.HasPrefix(m[1], "^") {
			defs[normalLabel(m[1])] = true
			p.Links = append(p.Links, Link{Target: m[2], Line: i + 1, Kind: "reference"})
			lines[i] = ""
			continue
		}
		lines[i] = line
	}

	text := blankCodeSpans(strings.Join(lines, "\n"))
	lineAt := func(pos int) int { return strings.Count(text[:pos], "\n") + 1 }

	for _, tag := range htmlElemRE.FindAllStringIndex(text, -1) {
		for _, m := range htmlAttrRE.FindAllStringSubmatchIndex(text[tag[0]:tag[1]], -1) {
			attr := strings.ToLower(text[tag[0]+m[2] : tag[0]+m[3]])
			start, end := m[4], m[5]
			if start < 0 {
				start, end = m[6], m[7]
			}
			start, end = tag[0]+start, tag[0]+end
			if value := text[start:end]; attr == "id" || attr == "name" {
				p.Anchors[value] = true
			} else {
				p.Links = append(p.Links, Link{Target: value, Line: lineAt(start), Kind: "html"})
			}
			text = blank(text, start, end)
		}
	}

	for i := 0; ; {
		j := strings.Index(text[i:], "](")
		if j < 0 {
			break
		}
		start := i + j + 2
		target, end := destination(text, start)
		if end > start {
			p.Links = append(p.Links, Link{Target: target, Line: lineAt(start), Kind: "inline"})
			text = blank(text, start, end)
		}
		i = start
	}

	for _, m := range refUseRE.FindAllStringSubmatchIndex(text, -1) {
		label := text[m[4]:m[5]]
		if label == "" {
			label = text[m[2]:m[3]]
		}
		if !defs[normalLabel(label)] {
			p.Undefined = append(p.Undefined, Link{Target: label, Line: lineAt(m[0]), Kind: "reference"})
		}
	}

	for _, m := range autolinkRE.FindAllStringSubmatchIndex(text, -1) {
		p.Links = append(p.Links, Link{Target: text[m[2]:m[3]], Line: lineAt(m[0]), Kind: "autolink"})
		text = blank(text, m[0], m[1])
	}
	for _, m := range bareURLRE.FindAllStringIndex(text, -1) {
		url := strings.TrimRight(text[m[0]:m[1]], ".,;:!?*_")
		p.Links = append(p.Links, Link{Target: url, Line: lineAt(m[0]), Kind: "bare"})
	}
	return p
}

// destination reads an inline link's destination from text[start:], just
// after "](": <...>, or text up to a space or the ")" that closes the link,
// parentheses inside it balanced. It returns the destination and where the
// link's ")" is, or end == start when there is no well-formed destination.
func destination(text string, start int) (target string, end int) {
	i := start
	for i < len(text) && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t') {
		i++
	}
	if i < len(text) && text[i] == '<' {
		k := strings.IndexAny(text[i:], ">\n")
		if k < 0 || text[i+k] != '>' {
			return "", start
		}
		target = text[i+1 : i+k]
		i += k + 1
	} else {
		depth, j := 0, i
		for ; j < len(text); j++ {
			c := text[j]
			if c == '(' {
				depth++
			} else if c == ')' {
				if depth == 0 {
					break
				}
				depth--
			} else if c == ' ' || c == '\n' || c == '\t' {
				break
			}
		}
		target = text[i:j]
		i = j
	}
	// An optional title, then the closing parenthesis.
	k := strings.IndexByte(text[i:], ')')
	if k < 0 {
		return "", start
	}
	return target, i + k
}

// blankCodeSpans replaces each code span (a run of backticks up to the next
// run of the same length) with spaces, newlines kept so that positions keep
// their lines. A run without its match is literal text.
func blankCodeSpans(text string) string {
	b := []byte(text)
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == '`' {
			n++
		}
		closeAt := -1
		for j := i + n; j < len(b); {
			if b[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(b) && b[j+m] == '`' {
				m++
			}
			if m == n {
				closeAt = j + m
				break
			}
			j += m
		}
		if closeAt < 0 {
			i += n
			continue
		}
		for k := i; k < closeAt; k++ {
			if b[k] != '\n' {
				b[k] = ' '
			}
		}
		i = closeAt
	}
	return string(b)
}

func blank(text string, start, end int) string {
	return text[:start] + strings.Repeat(" ", end-start) + text[end:]
}

func normalLabel(label string) string {
	return strings.ToLower(strings.Join(strings.Fields(label), " "))
}

// Slug turns a heading's text into its anchor as GitHub (and the registry,
// which slugs headings the same way) makes it: the text as rendered, lower
// case, without punctuation, each space a hyphen.
func Slug(heading string) string {
	text := inlineMDRE.ReplaceAllString(heading, "$1")
	text = htmlTagRE.ReplaceAllString(text, "")
	text = strings.NewReplacer("`", "", "*", "").Replace(text)
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// uniqueSlug returns slug the first time, then slug-1, slug-2, ..., as
// GitHub numbers repeated headings.
func uniqueSlug(seen map[string]int, slug string) string {
	n, dup := seen[slug]
	seen[slug] = n + 1
	if !dup {
		return slug
	}
	for ; ; n++ {
		candidate := slug + "-" + strconv.Itoa(n)
		if _, taken := seen[candidate]; !taken {
			seen[candidate] = 1
			return candidate
		}
	}
}
