package ingest

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// markdownParser is CommonMark with GFM tables, strikethrough and task
// lists, and heading attributes ("## Title {#id}") kept out of the text. A
// goldmark parser keeps no state between Parse calls, so one serves all
// goroutines.
var markdownParser = goldmark.New(
	goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.TaskList),
	goldmark.WithParserOptions(parser.WithHeadingAttribute()),
).Parser()

// hardBreak stands for a line break that must survive the joining of soft
// line breaks (a Markdown hard break, an HTML <br>) while a block's text is
// assembled.
const hardBreak = '\u2028'

// loadMarkdown reads Markdown: front matter to Metadata, then the AST's
// blocks to text, without markup.
func loadMarkdown(data []byte) ([]Document, error) {
	s, err := decodeUTF8(data)
	if err != nil {
		return nil, err
	}
	meta, title, body, err := splitFrontMatter(s)
	if err != nil {
		return nil, err
	}
	src := []byte(expandTemplateLiterals(body))
	w := mdWalker{src: src}
	w.block(markdownParser.Parse(text.NewReader(src)), BlockParagraph)
	if title == "" {
		title = w.b.firstH1
	}
	return w.b.document(title, meta)
}

// mdWalker turns a goldmark AST into a docBuilder's blocks.
type mdWalker struct {
	src []byte
	b   docBuilder
}

// block adds the blocks of n; kind is what running text inside it is: a
// paragraph, a list item or a quote.
func (w *mdWalker) block(n ast.Node, kind BlockKind) {
	switch n := n.(type) {
	case *ast.Heading:
		w.b.add(BlockHeading, w.inlineText(n, ""), n.Level)
	case *ast.Paragraph, *ast.TextBlock:
		w.b.add(kind, w.inlineText(n, ""), 0)
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		w.b.add(BlockCode, string(n.Lines().Value(w.src)), 0)
	case *ast.HTMLBlock:
		raw := n.Lines().Value(w.src)
		if n.HasClosure() {
			raw = append(raw, n.ClosureLine.Value(w.src)...)
		}
		hw := htmlWalker{b: &w.b, inArticle: true}
		hw.fragment(string(raw), kind)
	case *ast.Blockquote:
		if kind != BlockList {
			kind = BlockQuote
		}
		w.children(n, kind)
	case *ast.List:
		num := n.Start
		for item := n.FirstChild(); item != nil; item = item.NextSibling() {
			prefix := ""
			if n.IsOrdered() {
				prefix = strconv.Itoa(num) + string(n.Marker) + " "
				num++
			}
			w.listItem(item, prefix)
		}
	case *east.Table:
		var rows []string
		for r := n.FirstChild(); r != nil; r = r.NextSibling() {
			var cells []string
			for c := r.FirstChild(); c != nil; c = c.NextSibling() {
				cells = append(cells, strings.ReplaceAll(w.inlineText(c, ""), "\n", " "))
			}
			if row := strings.Join(cells, " | "); strings.Trim(row, " |") != "" {
				rows = append(rows, row)
			}
		}
		w.b.add(BlockTable, strings.Join(rows, "\n"), 0)
	case *ast.ThematicBreak:
	default:
		w.children(n, kind)
	}
}

func (w *mdWalker) children(n ast.Node, kind BlockKind) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		w.block(c, kind)
	}
}

// listItem adds one list item: its first paragraph starts with prefix (the
// number of an ordered item; bullets are markup and go), nested blocks
// follow as their own blocks.
func (w *mdWalker) listItem(item ast.Node, prefix string) {
	for c := item.FirstChild(); c != nil; c = c.NextSibling() {
		switch c.(type) {
		case *ast.Paragraph, *ast.TextBlock:
			w.b.add(BlockList, w.inlineText(c, prefix), 0)
			prefix = ""
		default:
			w.block(c, BlockList)
		}
	}
}

// inlineText returns the readable text of n's inline children: emphasis,
// links and images reduced to their text (URLs go, alt text stays), code
// spans as written, soft line breaks joined with a space (none between
// two Chinese or Japanese characters) and lines made only of template
// actions dropped.
func (w *mdWalker) inlineText(n ast.Node, prefix string) string {
	var buf bytes.Buffer
	buf.WriteString(prefix)
	w.inline(&buf, n)
	return joinSoftBreaks(dropDirectiveLines(buf.String()))
}

func (w *mdWalker) inline(buf *bytes.Buffer, n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			v := c.Value(w.src)
			if c.IsRaw() {
				buf.Write(v)
			} else {
				buf.Write(unescapeMarkdown(v))
			}
			switch {
			case c.HardLineBreak():
				buf.WriteRune(hardBreak)
			case c.SoftLineBreak():
				buf.WriteByte('\n')
			}
		case *ast.String:
			buf.Write(c.Value)
		case *ast.CodeSpan:
			for t := c.FirstChild(); t != nil; t = t.NextSibling() {
				if t, ok := t.(*ast.Text); ok {
					buf.Write(bytes.ReplaceAll(t.Value(w.src), []byte("\n"), []byte(" ")))
				}
			}
		case *ast.AutoLink:
			buf.Write(c.Label(w.src))
		case *ast.RawHTML:
			// Inline tags are markup; only a line break means something.
			if tag := strings.ToLower(string(c.Segments.Value(w.src))); strings.HasPrefix(tag, "<br") {
				buf.WriteRune(hardBreak)
			}
		case *east.TaskCheckBox:
			if c.IsChecked {
				buf.WriteString("[x] ")
			} else {
				buf.WriteString("[ ] ")
			}
		default: // emphasis, links, images, strikethrough
			w.inline(buf, c)
		}
	}
}

// unescapeMarkdown resolves backslash escapes and entity references, as a
// renderer would.
func unescapeMarkdown(v []byte) []byte {
	if bytes.IndexByte(v, '\\') >= 0 {
		v = util.UnescapePunctuations(v)
	}
	if bytes.IndexByte(v, '&') >= 0 {
		v = util.ResolveEntityNames(util.ResolveNumericReferences(v))
	}
	return v
}

// joinSoftBreaks turns the soft line breaks ('\n') of a block's text into
// spaces, except between two Chinese or Japanese characters, and the hard
// breaks into newlines.
func joinSoftBreaks(s string) string {
	if !strings.ContainsAny(s, "\n\u2028") {
		return s
	}
	var out strings.Builder
	out.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch r {
		case '\n':
			before, _ := utf8.DecodeLastRuneInString(strings.TrimRight(out.String(), " \t"))
			after, _ := utf8.DecodeRuneInString(strings.TrimLeft(s[i+1:], " \t"))
			if !isCJK(before) || !isCJK(after) {
				out.WriteByte(' ')
			}
		case hardBreak:
			out.WriteByte('\n')
		default:
			out.WriteString(s[i : i+n])
		}
		i += n
	}
	return out.String()
}

// isCJK reports whether r belongs to a script written without spaces
// between words.
func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) ||
		(r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef)
}
