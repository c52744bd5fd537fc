package ingest

import (
	"errors"
	"os"
	"testing"
)

// fuzzLoad loads data as format f and fails on a panic (the fuzzer reports
// it), an error that is not one of the package's, or a document that
// breaks the invariants.
func fuzzLoad(t *testing.T, f Format, data []byte) {
	docs, err := Load("fuzz", data, f, LoadConfig{})
	if err != nil {
		if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	for _, d := range docs {
		if err := checkDocument(d); err != nil {
			t.Fatalf("%v\ntext: %q", err, d.Text)
		}
	}
}

func addSeeds(f *testing.F, files []string, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, name := range files {
		if data, err := os.ReadFile("testdata/" + name); err == nil {
			f.Add(data)
		}
	}
}

func FuzzLoadMarkdown(f *testing.F) {
	addSeeds(f, []string{"defer-panic-and-recover.md", "querying.md"}, []string{
		"# T\n\ntext *em* [l](u)\n\n```\ncode\n```\n",
		"---\ntitle: x\ntags: [a]\n---\nbody",
		"<!--{\"Title\": \"x\"}-->\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
		"- a\n  - b\n\n> q\n\n1. x\n\n<div><p>h</p></div>\n",
		"{{raw `\n\tcode\n`}}\n{{code \"x\"}}\nx {{raw \"<\"}} y\n",
		"a\\\nb  \nc\n\n漢\n字\n",
		"---\n---\n",
		"\xff\xfe#\x00 \x00x\x00",
	})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, FormatMarkdown, data) })
}

func FuzzLoadHTML(f *testing.F) {
	addSeeds(f, []string{"manage-install.html", "race_detector.html"}, []string{
		articlePage,
		"<h2>a</h2><p>b<br>c</p><pre>x\n y</pre><table><tr><td>1<td>2</table>",
		"<ul><li>a<ul><li>b</li></ul></li></ul><dl><dt>t<dd>d</dl><blockquote>q</blockquote>",
		"<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>",
		"<meta charset=\"shift_jis\"><p>\x82\xa0</p>",
		"<!--{\"Title\": 1}-->{{code `x`}}\n<p>{{raw \"&lt;\"}}</p>",
		"<svg><p>x</p></svg><math><mi>y</mi></math><form><p>z</p></form>",
	})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, FormatHTML, data) })
}
