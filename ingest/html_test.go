package ingest

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const articlePage = `<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8"><title>  The  Title &amp; more </title>
<style>body { color: red }</style><script>var x = "<p>not text</p>";</script>
</head><body>
<header class="site-header"><a href="/">Logo</a><nav><ul><li><a href="/a">Home</a></li><li>Blog</li></ul></nav></header>
<div class="sidebar">Popular posts</div>
<main>
  <article>
    <header><h1>Article <em>heading</em></h1><p class="byline">By Ann</p></header>
    <p>First   paragraph
       with <a href="x">a link</a> and&nbsp;an entity &eacute;.</p>
    Text directly in the article<br>after a break.
    <div>Div text<div>nested div</div>tail</div>
    <h2>Section</h2>
    <ul><li>item one</li><li>item <b>two</b><ul><li>sub item</li></ul></li></ul>
    <dl><dt>term</dt><dd>definition</dd></dl>
    <blockquote><p>quoted</p></blockquote>
    <pre><code>func main() {
	fmt.Println("x &lt; y")
}</code></pre>
    <table><caption>Versions</caption><thead><tr><th>Go</th><th>Date</th></tr></thead>
      <tbody><tr><td>1.21</td><td>2023</td></tr><tr><td>1.22</td><td>2024</td></tr></tbody></table>
    <form><input value="q"><button>Search</button></form>
    <div hidden>hidden text</div><span aria-hidden="true">icon</span><p style="display: none">invisible</p>
    <noscript>enable js</noscript><svg><text>svg text</text></svg>
    <img src="a.png" alt="A diagram"> <img src="b.png" alt="">
    <footer>Article footer</footer>
  </article>
</main>
<aside>Related</aside>
<footer>© Site footer</footer>
</body></html>`

func TestLoadHTML(t *testing.T) {
	const P, H, C, T, L, Q = BlockParagraph, BlockHeading, BlockCode, BlockTable, BlockList, BlockQuote
	d := loadOne(t, FormatHTML, articlePage)
	require.Equal(t, "The Title & more", d.Title)
	require.Equal(t, []blk{
		{H, "Article heading", "", 1},
		{P, "By Ann", "Article heading", 0},
		{P, "First paragraph with a link and an entity é.", "Article heading", 0},
		{P, "Text directly in the article\nafter a break.", "Article heading", 0},
		{P, "Div text", "Article heading", 0},
		{P, "nested div", "Article heading", 0},
		{P, "tail", "Article heading", 0},
		{H, "Section", "Article heading", 2},
		{L, "item one", "Article heading > Section", 0},
		{L, "item two", "Article heading > Section", 0},
		{L, "sub item", "Article heading > Section", 0},
		{L, "term", "Article heading > Section", 0},
		{L, "definition", "Article heading > Section", 0},
		{Q, "quoted", "Article heading > Section", 0},
		{C, "func main() {\n\tfmt.Println(\"x < y\")\n}", "Article heading > Section", 0},
		{P, "Versions", "Article heading > Section", 0},
		{T, "Go | Date\n1.21 | 2023\n1.22 | 2024", "Article heading > Section", 0},
		{P, "A diagram", "Article heading > Section", 0},
		{P, "Article footer", "Article heading > Section", 0},
	}, blks(d))
}

func TestLoadHTMLCases(t *testing.T) {
	const P, H, C, T = BlockParagraph, BlockHeading, BlockCode, BlockTable
	tests := []struct {
		name  string
		in    string
		title string
		want  []blk
	}{
		{"fragment", "<h2>Sub</h2>\n<p>one</p>\ntwo", "", []blk{{H, "Sub", "", 2}, {P, "one", "Sub", 0}, {P, "two", "Sub", 0}}},
		{"title from h1", "<body><h1>Big</h1><p>x</p></body>", "Big", []blk{{H, "Big", "", 1}, {P, "x", "Big", 0}}},
		{"body chrome without main", "<body><nav>menu</nav><div class='navbar'>links</div><div role='navigation'>more</div><p>content</p><footer>f</footer></body>", "",
			[]blk{{P, "content", "", 0}}},
		{"two articles use body", "<body><article><p>a</p></article><article><p>b</p></article></body>", "", []blk{{P, "a", "", 0}, {P, "b", "", 0}}},
		{"role main", "<body><div>chrome</div><div role='main'><p>kept</p></div></body>", "", []blk{{P, "kept", "", 0}}},
		{"no glued cells or items", "<table><tr><td>a</td><td>b</td></tr></table><ul><li>x</li><li>y</li></ul>", "",
			[]blk{{T, "a | b", "", 0}, {BlockList, "x", "", 0}, {BlockList, "y", "", 0}}},
		{"layout table", "<table><tr><td><h2>Side</h2><p>para</p></td><td><p>other</p></td></tr></table>", "",
			[]blk{{H, "Side", "", 2}, {P, "para", "Side", 0}, {P, "other", "Side", 0}}},
		{"form with content kept", "<body><form><h2>T</h2><p>page text</p><input></form></body>", "", []blk{{H, "T", "", 2}, {P, "page text", "T", 0}}},
		{"pre keeps spaces", "<pre>\n  a   b\n\n  c</pre>", "", []blk{{C, "  a   b\n\n  c", "", 0}}},
		{"template directives", "<p>x</p>\n{{code \"/doc/x.go\" `/a/` `/b/`}}\n<p>raw {{raw \"&lt;\"}} and {{\"{{if .}}\"}}</p><pre>{{.Keep}}</pre>", "",
			[]blk{{P, "x", "", 0}, {P, "raw < and {{if .}}", "", 0}, {C, "{{.Keep}}", "", 0}}},
		{"latin1 with meta charset", "<meta charset=\"iso-8859-1\"><p>caf\xe9 cr\xe8me</p>", "", []blk{{P, "café crème", "", 0}}},
		{"latin1 without charset", "<p>na\xefve</p>", "", []blk{{P, "naïve", "", 0}}},
		{"utf16", "\xff\xfe<\x00p\x00>\x00h\x00i\x00", "", []blk{{P, "hi", "", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := loadOne(t, FormatHTML, tt.in)
			require.Equal(t, tt.want, blks(d))
			require.Equal(t, tt.title, d.Title)
		})
	}
}

// TestLoadHTMLReadability: a whole page that marks nothing as main
// content (no <main>, no <article>, chrome in plain divs) is read through
// Readability.
func TestLoadHTMLReadability(t *testing.T) {
	para := func(s string) string {
		return "<p>" + strings.Repeat(s+" ", 6) + "</p>\n"
	}
	page := `<!DOCTYPE html><html><head><title>Local news: the bridge reopens</title></head><body>
<div class="top"><a href="/">Home</a> | <a href="/world">World</a> | <a href="/sport">Sport</a> | <a href="/login">Sign in</a></div>
<div class="promo"><a href="/sub">Subscribe today and save 50%</a></div>
<div id="story"><h1>The bridge reopens</h1>` +
		para("After two years of work the old stone bridge over the river opened again to traffic on Monday morning.") +
		para("Engineers replaced the arches and the deck, and the town council says the works came in under budget.") +
		"<h2>What changes</h2>" +
		para("Buses will use the bridge again from next week, which shortens the trip to the station by ten minutes.") +
		`</div>
<div class="comments"><h3>Comments (2)</h3><div class="comment">First!</div><div class="comment">Great news.</div></div>
<div class="more"><h3>More stories</h3><ul><li><a href="/a">Cat rescued from tree</a></li><li><a href="/b">Rain expected</a></li></ul></div>
<div class="bottom">© 2024 The Local Paper · <a href="/privacy">Privacy</a></div>
</body></html>`
	d := loadOne(t, FormatHTML, page)
	require.Equal(t, "Local news: the bridge reopens", d.Title)
	require.Contains(t, d.Text, "After two years of work the old stone bridge")
	require.Contains(t, d.Text, "Buses will use the bridge again")
	for _, junk := range []string{"Sign in", "Subscribe", "First!", "Cat rescued", "Privacy"} {
		require.NotContains(t, d.Text, junk)
	}
	var heads []string
	for _, b := range d.Blocks {
		if b.Kind == BlockHeading {
			heads = append(heads, d.Text[b.Start:b.End])
		}
	}
	require.Contains(t, heads, "What changes")
}

func TestHTMLGoDocs(t *testing.T) {
	tests := []struct {
		file   string
		title  string
		has    []string
		hasNot []string
	}{
		{"manage-install.html", "Managing Go installations",
			[]string{"$ go install golang.org/dl/go1.10.7@latest\n$ go1.10.7 download", "msiexec /x go{{version}}.windows-{{cpu-arch}}.msi /q"},
			[]string{"<!--", "\"Title\"", "<pre>"}},
		{"race_detector.html", "Data Race Detector",
			[]string{"Data races are among the most common and hardest to debug types of bugs in concurrent systems."},
			[]string{"<p>", "&quot;", "&lt;"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + tt.file)
			require.NoError(t, err)
			d := loadOne(t, FormatHTML, string(data))
			require.Equal(t, tt.title, d.Title)
			for _, s := range tt.has {
				require.Contains(t, d.Text, s)
			}
			for _, s := range tt.hasNot {
				require.NotContains(t, d.Text, s)
			}
		})
	}
}
