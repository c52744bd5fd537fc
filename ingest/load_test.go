package ingest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// raceEnabled is set by race_test.go in -race builds, where PDFium runs in
// wazero's interpreter and only small PDFs are tested.
var raceEnabled bool

// requireValidDocs checks the contract of Load's documents: text, blocks
// in order inside it with only white space around them, heading levels,
// metadata of the index's types.
func requireValidDocs(t testing.TB, docs []Document) {
	t.Helper()
	require.NotEmpty(t, docs)
	for _, d := range docs {
		require.NoError(t, checkDocument(d), "document %q", d.Source)
	}
}

// checkDocument returns the first broken invariant of d.
func checkDocument(d Document) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf(format, args...)
	}
	switch {
	case strings.TrimSpace(d.Text) == "":
		return fail("empty text")
	case !utf8.ValidString(d.Text):
		return fail("text is not valid UTF-8")
	case len(d.Blocks) == 0:
		return fail("no blocks")
	case !utf8.ValidString(d.Title):
		return fail("title is not valid UTF-8")
	}
	prev := 0
	for i, b := range d.Blocks {
		switch {
		case b.Start < prev || b.End <= b.Start || b.End > len(d.Text):
			return fail("block %d [%d,%d) out of order or bounds (previous end %d, text %d)", i, b.Start, b.End, prev, len(d.Text))
		case strings.TrimSpace(d.Text[prev:b.Start]) != "":
			return fail("block %d: non-blank text before it: %q", i, d.Text[prev:b.Start])
		case strings.TrimSpace(d.Text[b.Start:b.End]) == "":
			return fail("block %d is blank", i)
		case !utf8.ValidString(d.Text[b.Start:b.End]):
			return fail("block %d cuts a rune", i)
		case b.Kind == BlockHeading && (b.Level < 1 || b.Level > 6):
			return fail("heading block %d has level %d", i, b.Level)
		case b.Kind != BlockHeading && b.Level != 0:
			return fail("block %d of kind %s has level %d", i, b.Kind, b.Level)
		case b.Page < 0:
			return fail("block %d has page %d", i, b.Page)
		}
		for _, h := range b.Headings {
			if strings.TrimSpace(h) == "" {
				return fail("block %d has a blank heading in its path %q", i, b.Headings)
			}
		}
		prev = b.End
	}
	if strings.TrimSpace(d.Text[prev:]) != "" {
		return fail("non-blank text after the last block: %q", d.Text[prev:])
	}
	for k, v := range d.Metadata {
		if k == "" {
			return fail("empty metadata key")
		}
		vals, isList := v.([]any)
		if !isList {
			vals = []any{v}
		} else if len(vals) == 0 {
			return fail("metadata %q is an empty list", k)
		}
		for _, e := range vals {
			switch e.(type) {
			case string, float64, bool:
			default:
				return fail("metadata %q holds %T", k, e)
			}
		}
	}
	return nil
}

// blockTexts returns the text of each block, for comparisons.
func blockTexts(d Document) []string {
	out := make([]string, len(d.Blocks))
	for i, b := range d.Blocks {
		out[i] = d.Text[b.Start:b.End]
	}
	return out
}

func TestDetect(t *testing.T) {
	binary := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0x0d}
	tests := []struct {
		name string
		head string
		want Format
		ok   bool
	}{
		{"notes.txt", "hello", FormatText, true},
		{"README.md", "# Title\n", FormatMarkdown, true},
		{"post.MARKDOWN", "text", FormatMarkdown, true},
		{"page.mdx", "import X from './x'\n\n# Hi", FormatMarkdown, true},
		{"index.html", "<!doctype html><p>x", FormatHTML, true},
		{"index.htm", "<p>x", FormatHTML, true},
		{"legacy.html", "<p>caf\xe9</p>", FormatHTML, true}, // Latin-1 HTML declares its charset
		{"a.xhtml", "<html/>", FormatHTML, true},
		{"data.jsonl", `{"text":"x"}`, FormatJSONL, true},
		{"data.ndjson", `{"text":"x"}`, FormatJSONL, true},
		{"paper.pdf", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", FormatPDF, true},
		{"paper.bin", "%PDF-1.4\n", FormatPDF, true},          // magic wins
		{"report.txt", "%PDF-1.4\n\x00\x01", FormatPDF, true}, // magic wins
		{"main.go", "package main\n", FormatText, true},
		{"lib.rs", "fn main() {}", FormatText, true},
		{"config.yaml", "a: 1", FormatText, true},
		{"data.json", `{"a":1}`, FormatText, true},
		{"notes.rst", "Title\n=====", FormatText, true},
		{"table.csv", "a,b\n1,2", FormatText, true},
		{"Makefile", "all:\n\tgo build", FormatText, true},
		{"noext", "plain words", FormatText, true},
		{"noext", "  <!-- c -->\n<!DOCTYPE HTML>\n<html>", FormatHTML, true},
		{"page.unknown", "<html><body>x", FormatHTML, true},
		{"utf16.txt", "\xff\xfeh\x00i\x00", FormatText, true},
		{"cut-rune.md", "caf\xc3", FormatMarkdown, true}, // a rune cut by the end of head
		{"empty.md", "", FormatMarkdown, true},           // Load says ErrEmpty
		{"image.md", string(binary), "", false},
		{"latin1.md", "caf\xe9 cr\xe8me", "", false},
		{"image.txt", string(binary), "", false},
		{"random.pdf", "\x13\x99garbage", "", false},
		{"photo.png", string(binary), "", false},
		{"archive.zip", "PK\x03\x04\x00\x00", "", false},
		{"noext", "", "", false},
		{"logo.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>", "", false},
		{"app.min.js", "var a=1", "", false},
		{"app.js.map", `{"version":3}`, "", false},
		{"bin.html", "<p>\x00\x00\x00", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Detect(tt.name, []byte(tt.head))
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
	t.Run("long head", func(t *testing.T) {
		head := bytes.Repeat([]byte("word "), 4000)
		head = append(head, 0) // past the 8 KiB Detect reads
		f, ok := Detect("x.txt", head)
		require.True(t, ok)
		require.Equal(t, FormatText, f)
	})
}

func TestLoadConfig(t *testing.T) {
	require.NoError(t, LoadConfig{}.Validate())
	require.NoError(t, DefaultLoadConfig().Validate())
	require.Equal(t, DefaultLoadConfig(), LoadConfig{}.withDefaults())
	for _, bad := range []LoadConfig{
		{MaxBytes: -1},
		{PDFTimeout: -1},
		{TextField: "id"},
		{TextField: "body", IDField: "body"},
	} {
		err := bad.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig)
		_, err = Load("x.txt", []byte("x"), FormatText, bad)
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
}

func TestLoadText(t *testing.T) {
	tests := []struct {
		name, source, in string
		blocks           []string
		kind             BlockKind
	}{
		{"paragraphs", "a.txt", "First line\nsecond line.\n\n\nNext paragraph.\n", []string{"First line\nsecond line.", "Next paragraph."}, BlockParagraph},
		{"crlf", "a.txt", "one\r\ntwo\r\n\r\nthree\rfour", []string{"one\ntwo", "three\nfour"}, BlockParagraph},
		{"blank lines with spaces", "a.txt", "  a\n \t \nb  ", []string{"a", "b"}, BlockParagraph},
		{"bom", "a.txt", "\uFEFFhello", []string{"hello"}, BlockParagraph},
		{"utf16", "a.txt", "\xff\xfeh\x00i\x00\n\x00\n\x00y\x00o\x00", []string{"hi", "yo"}, BlockParagraph},
		{"invalid utf8", "a.txt", "caf\xe9 ok", []string{"caf\uFFFD ok"}, BlockParagraph},
		{"control chars", "a.txt", "a\x1b[0mb\x0cc", []string{"a [0mb c"}, BlockParagraph},
		{"code keeps indentation", "main.go", "package main\n\n\tfunc f() {}\n", []string{"package main", "\tfunc f() {}"}, BlockCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Load(tt.source, []byte(tt.in), FormatText, LoadConfig{})
			require.NoError(t, err)
			requireValidDocs(t, docs)
			require.Len(t, docs, 1)
			require.Equal(t, tt.source, docs[0].Source)
			require.Equal(t, tt.blocks, blockTexts(docs[0]))
			for _, b := range docs[0].Blocks {
				require.Equal(t, tt.kind, b.Kind)
			}
		})
	}
}

func TestLoadJSONL(t *testing.T) {
	in := strings.Join([]string{
		`{"id":"a1","text":"First document.\n\nSecond paragraph.","title":" A title ","lang":"en","tags":["x","y"],"author":{"name":"Ann","age":40}}`,
		``,
		`{"text":"No id here.","score":0.5,"ok":true,"nothing":null}`,
		"{\"id\":12345678901,\"text\":\"Numeric id.\",\"rows\":[{\"a\":1}]}\r",
		`   `,
	}, "\n")
	docs, err := Load("data/set.jsonl", []byte(in), FormatJSONL, LoadConfig{})
	require.NoError(t, err)
	requireValidDocs(t, docs)
	require.Len(t, docs, 3)

	require.Equal(t, "a1", docs[0].ID)
	require.Equal(t, "data/set.jsonl", docs[0].Source)
	require.Equal(t, "A title", docs[0].Title)
	require.Equal(t, []string{"First document.", "Second paragraph."}, blockTexts(docs[0]))
	require.Equal(t, map[string]any{
		"title": " A title ", "lang": "en", "tags": []any{"x", "y"},
		"author.name": "Ann", "author.age": float64(40),
	}, docs[0].Metadata)

	require.Equal(t, "data/set.jsonl:3", docs[1].ID) // line numbers count blank lines
	require.Equal(t, map[string]any{"score": 0.5, "ok": true}, docs[1].Metadata)

	require.Equal(t, "12345678901", docs[2].ID)
	require.Equal(t, map[string]any{"rows": `[{"a":1}]`}, docs[2].Metadata)

	t.Run("custom fields", func(t *testing.T) {
		docs, err := Load("x.jsonl", []byte(`{"body":"hi","key":"k","text":"meta now"}`), FormatJSONL,
			LoadConfig{TextField: "body", IDField: "key"})
		require.NoError(t, err)
		require.Equal(t, "k", docs[0].ID)
		require.Equal(t, "hi", docs[0].Text)
		require.Equal(t, map[string]any{"text": "meta now"}, docs[0].Metadata)
	})
	t.Run("long line", func(t *testing.T) {
		long := strings.Repeat("word ", 2<<20) // a 10 MiB line
		docs, err := Load("x.jsonl", []byte(`{"text":"`+long+`"}`+"\n"+`{"text":"b"}`), FormatJSONL, LoadConfig{})
		require.NoError(t, err)
		require.Len(t, docs, 2)
		require.Len(t, docs[0].Text, len(long)-1)
	})
}

func TestLoadErrors(t *testing.T) {
	binary := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	tests := []struct {
		name   string
		format Format
		in     string
		cfg    LoadConfig
		want   error
		msg    string // a part of the message
	}{
		{"empty text", FormatText, "", LoadConfig{}, ErrEmpty, "ingest: no text"},
		{"blank text", FormatText, " \n\t\n", LoadConfig{}, ErrEmpty, ""},
		{"empty markdown", FormatMarkdown, "", LoadConfig{}, ErrEmpty, ""},
		{"front matter only", FormatMarkdown, "---\ntitle: x\n---\n\n", LoadConfig{}, ErrEmpty, ""},
		{"markup only", FormatMarkdown, "---\n\n***\n\n<!-- c -->\n", LoadConfig{}, ErrEmpty, ""},
		{"empty html", FormatHTML, "<html><head><title>t</title></head><body><nav>menu</nav></body></html>", LoadConfig{}, ErrEmpty, ""},
		{"empty jsonl", FormatJSONL, "\n\n", LoadConfig{}, ErrEmpty, "no JSON lines"},
		{"binary named md", FormatMarkdown, string(binary), LoadConfig{}, ErrUnsupported, "NUL byte at offset 8"},
		{"binary text", FormatText, string(binary), LoadConfig{}, ErrUnsupported, "binary"},
		{"binary html", FormatHTML, "<p>\xff\x00</p>", LoadConfig{}, ErrUnsupported, "binary"},
		{"unknown format", Format("docx"), "x", LoadConfig{}, ErrUnsupported, `format "docx"`},
		{"too large", FormatText, "0123456789x", LoadConfig{MaxBytes: 10}, ErrTooLarge, "11 bytes, over the limit of 10"},
		{"bad yaml", FormatMarkdown, "---\ntitle: x\ndate: : 2021\n---\ntext", LoadConfig{}, ErrMalformed, "front matter: yaml: line 3: mapping values are not allowed"},
		{"bad json front matter", FormatHTML, "<!--{\"Title\": }-->\n<p>x</p>", LoadConfig{}, ErrMalformed, "front matter"},
		{"invalid json line", FormatJSONL, "{\"text\":\"a\"}\n{\"text\":\"b\",}\n", LoadConfig{}, ErrMalformed,
			"ingest: malformed: line 2: invalid character '}' looking for beginning of object key string (at byte 13)"},
		{"cut json line", FormatJSONL, `{"text":"a`, LoadConfig{}, ErrMalformed, "line 1: the JSON value is cut short"},
		{"not an object", FormatJSONL, `["text"]`, LoadConfig{}, ErrMalformed, "line 1: want a JSON object, got an array"},
		{"two values", FormatJSONL, `{"text":"a"} {"text":"b"}`, LoadConfig{}, ErrMalformed, "more than one JSON value"},
		{"no text field", FormatJSONL, `{"body":"a"}`, LoadConfig{}, ErrMalformed, `line 1: no "text" field`},
		{"text not string", FormatJSONL, `{"text":3}`, LoadConfig{}, ErrMalformed, `field "text" is a number, want a string`},
		{"blank text field", FormatJSONL, `{"text":"  "}`, LoadConfig{}, ErrMalformed, `field "text" is blank`},
		{"bad id", FormatJSONL, `{"text":"a","id":true}`, LoadConfig{}, ErrMalformed, `field "id" is a boolean, want a string or a number`},
		{"random pdf", FormatPDF, "\x13\x99 random bytes", LoadConfig{}, ErrMalformed, "no %PDF- header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Load("f", []byte(tt.in), tt.format, tt.cfg)
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.msg)
			require.Nil(t, docs)
		})
	}
}

// TestLoadConcurrent loads every format from many goroutines at once (run
// with -race).
func TestLoadConcurrent(t *testing.T) {
	inputs := []struct {
		f  Format
		in string
	}{
		{FormatText, "a\n\nb"},
		{FormatMarkdown, "# T\n\ntext *x*\n\n| a | b |\n|---|---|\n| 1 | 2 |"},
		{FormatHTML, "<title>x</title><p>a<p>b"},
		{FormatJSONL, `{"text":"x"}`},
	}
	done := make(chan error)
	for i := range 32 {
		go func() {
			in := inputs[i%len(inputs)]
			_, err := Load("x", []byte(in.in), in.f, LoadConfig{})
			done <- err
		}()
	}
	for range 32 {
		require.NoError(t, <-done)
	}
}
