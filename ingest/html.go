package ingest

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	readability "codeberg.org/readeck/go-readability/v2"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// loadHTML reads an HTML page or fragment: the main content's text, without
// navigation, scripts, styles and forms.
func loadHTML(data []byte) ([]Document, error) {
	s, err := decodeHTML(data)
	if err != nil {
		return nil, err
	}
	meta, title, body, err := splitFrontMatter(s)
	if err != nil {
		return nil, err
	}
	doc, err := html.Parse(strings.NewReader(expandTemplateLiterals(body)))
	if err != nil { // only the reader's errors, and a string has none
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var b docBuilder
	root, inArticle := contentRoot(doc, isFullPage(body))
	w := htmlWalker{b: &b, inArticle: inArticle}
	w.walk(root, BlockParagraph)
	w.flush()
	if title == "" {
		if t := findElement(doc, func(n *html.Node) bool { return n.DataAtom == atom.Title }); t != nil {
			title = collapseSpace(textContent(t))
		}
	}
	if title == "" {
		title = b.firstH1
	}
	return b.document(title, meta)
}

// decodeHTML returns data as UTF-8 text. Valid UTF-8 (or a byte order mark)
// is read as such; otherwise the charset the page declares in a <meta> tag
// decides, and Windows-1252 (what browsers assume) when it declares none.
func decodeHTML(data []byte) (string, error) {
	if bomEncoding(data) != nil || utf8.Valid(data) {
		return decodeUTF8(data)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return "", fmt.Errorf("%w: binary data (NUL byte at offset %d)", ErrUnsupported, i)
	}
	enc, name, _ := charset.DetermineEncoding(data, "")
	if name == "utf-8" {
		return decodeUTF8(data)
	}
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return "", fmt.Errorf("%w: decoding %s: %v", ErrMalformed, name, err)
	}
	return decodeUTF8(out)
}

// contentRoot returns where the main content is: the <main> element (or
// role="main"), else the only <article>; else, for a whole page that reads
// as an article, what Readability (Mozilla's reader view) keeps of it; else
// <body>. inArticle reports whether the root is not <body>: inside it,
// <header> and <footer> belong to the content.
func contentRoot(doc *html.Node, fullPage bool) (root *html.Node, inArticle bool) {
	if m := findElement(doc, func(n *html.Node) bool {
		return n.DataAtom == atom.Main || attr(n, "role") == "main"
	}); m != nil {
		return m, true
	}
	var articles []*html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && c.DataAtom == atom.Article {
				articles = append(articles, c)
				continue
			}
			find(c)
		}
	}
	find(doc)
	if len(articles) == 1 {
		return articles[0], true
	}
	if fullPage {
		if r := readableRoot(doc); r != nil {
			return r, true
		}
	}
	if body := findElement(doc, func(n *html.Node) bool { return n.DataAtom == atom.Body }); body != nil {
		return body, false
	}
	return doc, false
}

// maxReadabilityElements bounds the pages given to Readability, whose
// scoring is superlinear; a larger page is read from its <body>.
const maxReadabilityElements = 50_000

// readableRoot returns the article Readability finds in doc, or nil when
// doc does not read as an article (a page of links, a form, a listing) or
// Readability fails. On pages without <main> or <article> (most news and
// blog sites) this drops the menus, related links, comments and footers
// that no tag marks.
func readableRoot(doc *html.Node) (root *html.Node) {
	defer func() {
		if recover() != nil {
			root = nil // a bug in Readability costs the page its chrome filter, no more
		}
	}()
	if !readability.CheckDocument(doc) {
		return nil
	}
	p := readability.NewParser()
	p.MaxElemsToParse = maxReadabilityElements
	a, err := p.ParseDocument(doc, nil)
	if err != nil || a.Node == nil || strings.TrimSpace(textContent(a.Node)) == "" {
		return nil
	}
	return a.Node
}

// isFullPage reports whether s is a whole HTML page rather than a
// fragment (a page body that a site generator wraps in its layout).
func isFullPage(s string) bool {
	head := strings.ToLower(s[:min(len(s), 4096)])
	return strings.Contains(head, "<html") || strings.Contains(head, "<body") || strings.Contains(head, "<!doctype")
}

// htmlWalker turns HTML nodes into a docBuilder's blocks. Inline text
// gathers in pending until a block-level element starts or ends.
type htmlWalker struct {
	b       *docBuilder
	pending strings.Builder
	kind    BlockKind // of the pending text
	// inArticle is set inside <main> and <article>, where <header> and
	// <footer> are content, not page chrome.
	inArticle bool
}

// fragment adds the blocks of an HTML fragment (a raw HTML block of a
// Markdown file); kind is what its running text is.
func (w *htmlWalker) fragment(s string, kind BlockKind) {
	body := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := html.ParseFragment(strings.NewReader(s), body)
	if err != nil {
		return
	}
	for _, n := range nodes {
		w.walk(n, kind)
	}
	w.flush()
}

// walk adds n's content; kind is what running text inside it is.
func (w *htmlWalker) walk(n *html.Node, kind BlockKind) {
	switch n.Type {
	case html.TextNode:
		if w.pending.Len() == 0 {
			w.kind = kind
		}
		w.pending.WriteString(n.Data)
		return
	case html.DocumentNode:
		w.walkChildren(n, kind)
		return
	case html.ElementNode:
	default:
		return // comments, doctype
	}
	if w.skip(n) {
		return
	}
	switch n.DataAtom {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		w.flush()
		w.b.add(BlockHeading, collapseSpace(dropDirectiveLines(textContent(n))), int(n.Data[1]-'0'))
	case atom.Pre:
		w.flush()
		w.b.add(BlockCode, textContent(n), 0)
	case atom.Table:
		if isLayoutTable(n) {
			w.flush()
			w.walkChildren(n, kind)
			w.flush()
			return
		}
		w.flush()
		w.table(n)
	case atom.Li, atom.Dt, atom.Dd:
		w.flush()
		w.walkChildren(n, BlockList)
		w.flush()
	case atom.Blockquote:
		if kind != BlockList {
			kind = BlockQuote
		}
		w.flush()
		w.walkChildren(n, kind)
		w.flush()
	case atom.Br:
		w.pending.WriteRune(hardBreak)
	case atom.Img:
		if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
			if w.pending.Len() == 0 {
				w.kind = kind
			}
			w.pending.WriteString(" " + alt + " ")
		}
	case atom.Main, atom.Article:
		in := w.inArticle
		w.inArticle = true
		w.flush()
		w.walkChildren(n, kind)
		w.flush()
		w.inArticle = in
	default:
		if blockElements[n.DataAtom] {
			w.flush()
			w.walkChildren(n, kind)
			w.flush()
			return
		}
		w.walkChildren(n, kind)
	}
}

func (w *htmlWalker) walkChildren(n *html.Node, kind BlockKind) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c, kind)
	}
}

// flush adds the pending inline text as one block: lines made only of
// template actions dropped, white space collapsed, <br> kept as newlines.
func (w *htmlWalker) flush() {
	if w.pending.Len() == 0 {
		return
	}
	s := dropDirectiveLines(w.pending.String())
	w.pending.Reset()
	lines := strings.Split(s, string(hardBreak))
	for i, l := range lines {
		lines[i] = collapseSpace(l)
	}
	w.b.add(w.kind, strings.Join(lines, "\n"), 0)
}

// table adds a data table: its caption as a paragraph, then one line per
// row with the cells separated by " | ".
func (w *htmlWalker) table(t *html.Node) {
	var rows []string
	var visit func(*html.Node)
	visit = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || w.skip(c) {
				continue
			}
			switch c.DataAtom {
			case atom.Caption:
				w.b.add(BlockParagraph, collapseSpace(textContent(c)), 0)
			case atom.Tr:
				var cells []string
				for td := c.FirstChild; td != nil; td = td.NextSibling {
					if td.Type == html.ElementNode && (td.DataAtom == atom.Td || td.DataAtom == atom.Th) {
						cells = append(cells, collapseSpace(textContent(td)))
					}
				}
				if row := strings.Join(cells, " | "); strings.Trim(row, " |") != "" {
					rows = append(rows, row)
				}
			case atom.Thead, atom.Tbody, atom.Tfoot:
				visit(c)
			}
		}
	}
	visit(t)
	w.b.add(BlockTable, strings.Join(rows, "\n"), 0)
}

// skip reports whether n is page chrome or not text: scripts, styles,
// navigation, forms without content, hidden elements (but for tab panels,
// which a script reveals).
func (w *htmlWalker) skip(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Svg, atom.Math,
		atom.Iframe, atom.Object, atom.Embed, atom.Canvas, atom.Video, atom.Audio,
		atom.Nav, atom.Aside, atom.Button, atom.Select, atom.Input, atom.Textarea,
		atom.Dialog, atom.Head, atom.Title, atom.Meta, atom.Link:
		return true
	case atom.Header, atom.Footer:
		if !w.inArticle {
			return true
		}
	case atom.Form:
		// Some sites wrap the whole page in a form: keep one with content.
		if findElement(n, func(c *html.Node) bool { return contentElements[c.DataAtom] }) == nil {
			return true
		}
	}
	if n.Type == html.ElementNode && n.Namespace != "" {
		return true // inline SVG or MathML
	}
	tabPanel := attr(n, "role") == "tabpanel" // hidden until its tab is chosen: content
	for _, a := range n.Attr {
		switch a.Key {
		case "hidden":
			if !tabPanel {
				return true
			}
		case "aria-hidden":
			if a.Val == "true" && !tabPanel {
				return true
			}
		case "role":
			if chromeRoles[a.Val] {
				return true
			}
		case "style":
			if s := strings.ReplaceAll(strings.ToLower(a.Val), " ", ""); !tabPanel && (strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden")) {
				return true
			}
		case "class", "id":
			for _, tok := range strings.Fields(strings.ToLower(a.Val)) {
				if chromeClasses[tok] {
					return true
				}
			}
		}
	}
	return false
}

// isLayoutTable reports whether t lays out a page rather than holding data:
// a cell holds another table or block content (paragraphs, headings,
// lists, code).
func isLayoutTable(t *html.Node) bool {
	return findElement(t, func(n *html.Node) bool {
		if n == t {
			return false
		}
		switch n.DataAtom {
		case atom.Table, atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
			atom.Ul, atom.Ol, atom.Pre, atom.Blockquote:
			return true
		}
		return false
	}) != nil
}

// blockElements break running text; the others are inline.
var blockElements = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Ul: true, atom.Ol: true,
	atom.Dl: true, atom.Figure: true, atom.Figcaption: true, atom.Hr: true,
	atom.Address: true, atom.Details: true, atom.Summary: true, atom.Center: true,
	atom.Form: true, atom.Fieldset: true, atom.Legend: true, atom.Header: true,
	atom.Footer: true, atom.Body: true, atom.Html: true, atom.Tr: true, atom.Td: true,
	atom.Th: true, atom.Caption: true, atom.Thead: true, atom.Tbody: true,
	atom.Tfoot: true, atom.Hgroup: true, atom.Menu: true, atom.Option: true,
	atom.Noscript: true, atom.Picture: true, atom.Frameset: true,
}

// contentElements mark a form as holding content.
var contentElements = map[atom.Atom]bool{
	atom.P: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true,
	atom.H5: true, atom.H6: true, atom.Article: true, atom.Main: true, atom.Pre: true,
}

// chromeRoles are ARIA landmarks that are not the content.
var chromeRoles = setOf("navigation", "banner", "contentinfo", "complementary",
	"search", "menu", "menubar", "toolbar", "dialog", "alert", "tablist")

// chromeClasses are class and id tokens that name page chrome on sites
// without semantic elements. Only whole tokens match: "nav" but not
// "canvas-nav-free-zone".
var chromeClasses = setOf("nav", "navbar", "navigation", "menu", "breadcrumb",
	"breadcrumbs", "sidebar", "skip-link", "skiplink", "cookie-banner",
	"cookie-consent", "share-buttons", "social-share", "site-header",
	"site-footer", "visually-hidden", "sr-only")

// textContent returns the text of n and its descendants, verbatim, with <br>
// as a newline and skipped elements (scripts, styles) left out.
func textContent(n *html.Node) string {
	var buf strings.Builder
	var w htmlWalker
	var visit func(*html.Node)
	visit = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch {
			case c.Type == html.TextNode:
				buf.WriteString(c.Data)
			case c.Type != html.ElementNode:
			case c.DataAtom == atom.Br:
				buf.WriteByte('\n')
			case c.DataAtom == atom.Img:
				if alt := strings.TrimSpace(attr(c, "alt")); alt != "" {
					buf.WriteString(" " + alt + " ")
				}
			case c.DataAtom == atom.Script || c.DataAtom == atom.Style || w.skip(c) && c.DataAtom != atom.Header && c.DataAtom != atom.Footer:
			default:
				if blockElements[c.DataAtom] && buf.Len() > 0 {
					buf.WriteByte('\n') // no words glued across cells or items
				}
				visit(c)
			}
		}
	}
	visit(n)
	return buf.String()
}

// collapseSpace trims s and turns each run of white space into one space.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// findElement returns the first element under n (n included, depth first)
// for which match is true.
func findElement(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if m := findElement(c, match); m != nil {
			return m
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
