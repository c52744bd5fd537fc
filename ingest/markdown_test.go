package ingest

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// blk is a block as tests write it: kind, text, heading path.
type blk struct {
	Kind     BlockKind
	Text     string
	Headings string // joined with " > "
	Level    int
}

func blks(d Document) []blk {
	out := make([]blk, len(d.Blocks))
	for i, b := range d.Blocks {
		out[i] = blk{b.Kind, d.Text[b.Start:b.End], strings.Join(b.Headings, " > "), b.Level}
	}
	return out
}

func loadOne(t *testing.T, f Format, in string) Document {
	t.Helper()
	docs, err := Load("doc", []byte(in), f, LoadConfig{})
	require.NoError(t, err)
	requireValidDocs(t, docs)
	require.Len(t, docs, 1)
	return docs[0]
}

func TestLoadMarkdown(t *testing.T) {
	const P, H, C, T, L, Q = BlockParagraph, BlockHeading, BlockCode, BlockTable, BlockList, BlockQuote
	tests := []struct {
		name  string
		in    string
		title string
		want  []blk
	}{
		{"headings give the path", "# Top\n\nintro\n\n## A {#a}\n\ntext a\n\n### A.1\n\ndeep\n\n## B\n\ntext b\n",
			"Top", []blk{
				{H, "Top", "", 1}, {P, "intro", "Top", 0},
				{H, "A", "Top", 2}, {P, "text a", "Top > A", 0},
				{H, "A.1", "Top > A", 3}, {P, "deep", "Top > A > A.1", 0},
				{H, "B", "Top", 2}, {P, "text b", "Top > B", 0},
			}},
		{"setext and no h1", "Sub\n---\n\nbody\n", "", []blk{{H, "Sub", "", 2}, {P, "body", "Sub", 0}}},
		{"inline markup goes", "Some *em* and **strong**, ~~old~~, [a link](http://x.y \"t\"), ![alt text](i.png), `code`, <https://go.dev>, a\\*b &amp; &#65;.\n",
			"", []blk{{P, "Some em and strong, old, a link, alt text, code, https://go.dev, a*b & A.", "", 0}}},
		{"soft and hard breaks", "one\ntwo  \nthree\\\nfour<br>five\n\n漢字\n漢字\n", "", []blk{
			{P, "one two\nthree\nfour\nfive", "", 0}, {P, "漢字漢字", "", 0}}},
		{"code blocks verbatim", "```go\nfunc f() {\n\treturn *x_\n}\n```\n\n    indented\n      code\n\n~~~\n\n\nafter blanks\n~~~\n",
			"", []blk{{C, "func f() {\n\treturn *x_\n}", "", 0}, {C, "indented\n  code", "", 0}, {C, "after blanks", "", 0}}},
		{"table", "| Name | Value |\n|:-----|------:|\n| *a* | `1` |\n| b | 2 |\n", "", []blk{{T, "Name | Value\na | 1\nb | 2", "", 0}}},
		{"lists", "- one\n- two\n  - nested\n\n  second para\n\n3. three\n4. four\n\n- [x] done\n- [ ] todo\n", "", []blk{
			{L, "one", "", 0}, {L, "two", "", 0}, {L, "nested", "", 0}, {L, "second para", "", 0},
			{L, "3. three", "", 0}, {L, "4. four", "", 0}, {L, "[x] done", "", 0}, {L, "[ ] todo", "", 0}}},
		{"quote", "> quoted *text*\n> more\n\n> - item in quote\n", "", []blk{{Q, "quoted text more", "", 0}, {L, "item in quote", "", 0}}},
		{"raw html reduced to text", "<div class=\"note\">\n<p>Hello <b>there</b></p>\n<script>bad()</script>\n</div>\n\n<!-- a comment -->\n\n<pre>x &lt; y</pre>\n\ntext\n",
			"", []blk{{P, "Hello there", "", 0}, {C, "x < y", "", 0}, {P, "text", "", 0}}},
		{"html heading in markdown", "# Doc\n\n<h2 id=\"x\">From HTML</h2>\n\nunder it\n", "Doc", []blk{
			{H, "Doc", "", 1}, {H, "From HTML", "Doc", 2}, {P, "under it", "Doc > From HTML", 0}}},
		{"template directives", "Intro:\n\n{{code \"/doc/progs/x.go\" `/START/` `/END/`}}\n\nText {{raw \"<\"}} more\nalso {{.Keep}}\n{{image \"x.png\" 600}}\n\n    i {{raw \"<\"}} n\n\nThen:\n\n{{raw `\n\tpackage p\n\n\tfunc F() {}\n`}}\n",
			"", []blk{{P, "Intro:", "", 0}, {P, "Text < more also {{.Keep}}", "", 0}, {C, "i < n", "", 0}, {P, "Then:", "", 0}, {C, "package p\n\nfunc F() {}", "", 0}}},
		{"rule is not front matter", "---\n\n# Title\n\ntext\n", "Title", []blk{{H, "Title", "", 1}, {P, "text", "Title", 0}}},
		{"setext after rule", "---\nSome words here\n---\n", "", []blk{{H, "Some words here", "", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := loadOne(t, FormatMarkdown, tt.in)
			require.Equal(t, tt.want, blks(d))
			require.Equal(t, tt.title, d.Title)
		})
	}
}

func TestMarkdownFrontMatter(t *testing.T) {
	in := `---
title: "Hello: World"
date: 2021-11-10
updated: 2022-01-02T15:04:05+01:00
by:
- Russ Cox
- Ian
tags: [a, b]
draft: false
weight: 3
author:
  name: Ann
  links:
    site: https://x.y
authors:
  - name: A
    mail: a@x
empty:
nothing: []
---
# Heading

Body.
`
	d := loadOne(t, FormatMarkdown, in)
	require.Equal(t, "Hello: World", d.Title)
	require.Equal(t, map[string]any{
		"title":             "Hello: World",
		"date":              "2021-11-10T00:00:00Z",
		"updated":           "2022-01-02T15:04:05+01:00",
		"by":                []any{"Russ Cox", "Ian"},
		"tags":              []any{"a", "b"},
		"draft":             false,
		"weight":            float64(3),
		"author.name":       "Ann",
		"author.links.site": "https://x.y",
		"authors":           `[{"mail":"a@x","name":"A"}]`,
	}, d.Metadata)
	require.Equal(t, []string{"Heading", "Body."}, blockTexts(d))

	t.Run("json comment", func(t *testing.T) {
		d := loadOne(t, FormatMarkdown, "<!--{\n  \"Title\": \"JSON title\",\n  \"Count\": 2\n}-->\n\nBody.\n")
		require.Equal(t, "JSON title", d.Title)
		require.Equal(t, map[string]any{"Title": "JSON title", "Count": float64(2)}, d.Metadata)
		require.Equal(t, []string{"Body."}, blockTexts(d))
	})
	t.Run("title falls back to h1", func(t *testing.T) {
		d := loadOne(t, FormatMarkdown, "---\ntags: [x]\n---\n## Sub\n\n# Main *title*\n")
		require.Equal(t, "Main title", d.Title)
	})
}

// TestMarkdownGoDocs checks the Go documents in testdata beyond the golden
// files: what must and must not be in their text.
func TestMarkdownGoDocs(t *testing.T) {
	tests := []struct {
		file    string
		title   string
		meta    map[string]any
		has     []string
		hasNot  []string
		minCode int
	}{
		{"defer-panic-and-recover.md", "Defer, Panic, and Recover",
			map[string]any{"date": "2010-08-04T00:00:00Z", "by": []any{"Andrew Gerrand"}},
			[]string{"func CopyFile(dstName, srcName string) (written int64, err error) {", "1. A deferred function's arguments"},
			[]string{"```", "](", "**"}, 5},
		{"querying.md", "Querying for data", map[string]any{"Title": "Querying for data"},
			[]string{"DB.QueryRow DB.QueryRowContext | Run a single-row query in isolation."},
			[]string{"{#", "<table", "<code>", "DocTable"}, 4},
		{"fuzz-tutorial.md", "Tutorial: Getting started with fuzzing", nil,
			[]string{"for i, j := 0, len(b)-1; i < len(b)/2; i, j = i+1, j-1 {"},
			[]string{"{{raw", "{{"}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + tt.file)
			require.NoError(t, err)
			d := loadOne(t, FormatMarkdown, string(data))
			require.Equal(t, tt.title, d.Title)
			for k, v := range tt.meta {
				require.Equal(t, v, d.Metadata[k], k)
			}
			for _, s := range tt.has {
				require.Contains(t, d.Text, s)
			}
			for _, s := range tt.hasNot {
				require.NotContains(t, d.Text, s)
			}
			code := 0
			for _, b := range d.Blocks {
				if b.Kind == BlockCode {
					code++
				}
			}
			require.GreaterOrEqual(t, code, tt.minCode)
		})
	}
}
