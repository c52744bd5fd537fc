package ingest

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// makePDF returns the PDF that build draws with fpdf (A4, Helvetica 12).
func makePDF(t testing.TB, build func(*fpdf.Fpdf)) []byte {
	t.Helper()
	f := fpdf.New("P", "mm", "A4", "")
	f.SetFont("Helvetica", "", 12)
	build(f)
	var buf bytes.Buffer
	require.NoError(t, f.Output(&buf))
	return buf.Bytes()
}

// smallPDF is a one-page PDF with a title, a heading and two paragraphs.
func smallPDF(t testing.TB) []byte {
	return makePDF(t, func(f *fpdf.Fpdf) {
		f.SetTitle("A Small Test", true)
		f.SetAuthor("The Go Authors", true)
		f.AddPage()
		f.SetFont("Helvetica", "B", 20)
		f.Cell(0, 12, "Getting started")
		f.Ln(16)
		f.SetFont("Helvetica", "", 11)
		f.MultiCell(100, 5, "Go is an open source programming language that makes it simple to build secure, scalable systems.", "", "L", false)
		f.Ln(6)
		f.MultiCell(100, 5, "The second paragraph follows a gap.", "", "L", false)
	})
}

func TestLoadPDFGenerated(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	docs, err := Load("small.pdf", smallPDF(t), FormatPDF, LoadConfig{})
	require.NoError(t, err)
	requireValidDocs(t, docs)
	d := docs[0]
	require.Equal(t, "A Small Test", d.Title)
	require.Equal(t, "The Go Authors", d.Metadata["author"])
	require.Equal(t, float64(1), d.Metadata["pages"])
	require.Equal(t, []blk{
		{BlockHeading, "Getting started", "", 1},
		{BlockParagraph, "Go is an open source programming language that makes it simple to build secure, scalable systems.", "Getting started", 0},
		{BlockParagraph, "The second paragraph follows a gap.", "Getting started", 0},
	}, blks(d))
	for _, b := range d.Blocks {
		require.Equal(t, 1, b.Page)
	}
}

func TestLoadPDFErrors(t *testing.T) {
	small := smallPDF(t)
	encrypted := makePDF(t, func(f *fpdf.Fpdf) {
		f.SetProtection(fpdf.CnProtectPrint, "secret", "owner")
		f.AddPage()
		f.Cell(0, 10, "Top secret text")
	})
	scanned := makePDF(t, func(f *fpdf.Fpdf) {
		f.AddPage()
		f.SetFillColor(90, 90, 90)
		f.Rect(20, 20, 100, 60, "F") // a picture, no text
	})
	tests := []struct {
		name string
		in   []byte
		cfg  LoadConfig
		want []error // one of
		msg  string
	}{
		{"truncated", small[:len(small)/3], LoadConfig{}, []error{ErrMalformed, ErrEmpty}, ""},
		{"header only", []byte("%PDF-1.7\n"), LoadConfig{}, []error{ErrMalformed}, "not a valid PDF"},
		{"garbage after header", append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0x9c, 0x00, 0xff, '(', ')', '<'}, 500)...), LoadConfig{}, []error{ErrMalformed}, ""},
		{"random bytes", []byte("\x00\x01\x02 this is not a pdf"), LoadConfig{}, []error{ErrMalformed}, "no %PDF- header"},
		{"encrypted", encrypted, LoadConfig{}, []error{ErrUnsupported}, "encrypted PDF: it needs a password"},
		{"scanned", scanned, LoadConfig{}, []error{ErrEmpty}, "have no text layer (scanned?)"},
		{"timeout", small, LoadConfig{PDFTimeout: time.Nanosecond}, []error{ErrMalformed}, ""},
		{"too large", small, LoadConfig{MaxBytes: 100}, []error{ErrTooLarge}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Load("x.pdf", tt.in, FormatPDF, tt.cfg)
			require.Error(t, err)
			require.Nil(t, docs)
			matched := false
			for _, w := range tt.want {
				matched = matched || errors.Is(err, w)
			}
			require.True(t, matched, "error %q is none of %v", err, tt.want)
			require.Contains(t, err.Error(), tt.msg)
		})
	}
	// The engine still works after all that.
	docs, err := Load("small.pdf", small, FormatPDF, LoadConfig{})
	require.NoError(t, err)
	requireValidDocs(t, docs)
}

func TestLoadPDFConcurrent(t *testing.T) {
	small := makePDF(t, func(f *fpdf.Fpdf) {
		f.AddPage()
		f.Cell(0, 10, "Hello, PDF.")
	})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	texts := make([]string, 3)
	for i := range errs {
		wg.Go(func() {
			docs, err := Load("small.pdf", small, FormatPDF, LoadConfig{})
			errs[i] = err
			if err == nil {
				texts[i] = docs[0].Text
			}
		})
	}
	wg.Wait()
	for i := range errs {
		require.NoError(t, errs[i])
		require.Equal(t, "Hello, PDF.", texts[i])
	}
}

// TestLoadPDFProducers reads PDFs made by pdfTeX, LibreOffice and groff
// with Ghostscript (testdata/SOURCE.md).
func TestLoadPDFProducers(t *testing.T) {
	if raceEnabled {
		t.Skip("PDFium is interpreted under -race: real PDFs take minutes")
	}
	tests := []struct {
		file   string
		title  string
		pages  int
		has    []string
		hasNot []string
		check  func(t *testing.T, d Document)
	}{
		{"latex-twocolumn.pdf", "Defer, Panic, and Recover", 2,
			[]string{
				"The office staff found the final configuration files difficult to influence; their workflow was affected by fluffy efficient offline firefighters.",
				"Café, naïve, façade, Aeroskobing — non-ASCII",
				"executed after the surrounding function returns",
				// the paragraph goes on in the second column
				"a call to recover will capture the value given to panic and resume normal execution.",
			},
			[]string{"\x02", "ﬁ", "ﬂ", "´", "diffi-cult"},
			func(t *testing.T, d Document) {
				require.Equal(t, "Andrew Gerrand", d.Metadata["author"])
				last := d.Blocks[len(d.Blocks)-1]
				require.Equal(t, 2, last.Page)
				require.Equal(t, []string{"Defer, Panic, and Recover", "3 Second page"}, last.Headings)
				require.True(t, strings.HasPrefix(d.Text[last.Start:last.End], "This paragraph sits on the second page"))
			}},
		{"libreoffice.pdf", "Go Modules Reference Sample", 2,
			[]string{
				"Getting started with multi-module workspaces",
				"With multi-module workspaces, you can tell the Go command", // a compound cut at its hyphen
				"Zoë’s café serves crème brûlée — “quoted” text, Ελληνικά, Русский, 日本語のテキスト.",
				"The official offline workflow finally flows efficiently.",
			},
			[]string{"\x02", "multimodule"},
			func(t *testing.T, d Document) {
				var items []string
				for _, b := range d.Blocks {
					if b.Kind == BlockList {
						items = append(items, d.Text[b.Start:b.End])
					}
				}
				require.Equal(t, []string{
					"• An installation of Go 1.18 or later.",
					"• A tool to edit your code. Any text editor you have will work fine.",
					"• A command terminal. Go works well using any terminal on Linux and Mac, and on PowerShell or cmd in Windows.",
				}, items)
			}},
		{"groff-ghostscript.pdf", "Go Slices: usage and internals", 2,
			[]string{
				"This article will look at what slices are and how they are used.",
				"The office finally fluffed its workflow configuration.",
				"Go’s slice type provides",
				"Café naïve.",
			},
			[]string{"-2-", "ﬁ", "howtheyare"},
			func(t *testing.T, d Document) {
				var heads []string
				for _, b := range d.Blocks {
					if b.Kind == BlockHeading {
						heads = append(heads, d.Text[b.Start:b.End])
					}
				}
				require.Equal(t, []string{"Go Slices: usage and internals", "1. Introduction", "2. Arrays", "3. Slices"}, heads)
			}},
		{"latex-code.pdf", "1 Code", 1, []string{"Some text before the code."}, nil,
			func(t *testing.T, d Document) {
				require.Equal(t, []blk{
					{BlockHeading, "1 Code", "", 1},
					{BlockParagraph, "Some text before the code.", "1 Code", 0},
					{BlockCode, "func main() {\n    defer fmt.Println(\"world\")\n    fmt.Println(\"hello\")\n}", "1 Code", 0},
					{BlockParagraph, "Text after.", "1 Code", 0},
				}, blks(d))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/pdf/" + tt.file)
			require.NoError(t, err)
			docs, err := Load(tt.file, data, FormatPDF, LoadConfig{})
			require.NoError(t, err)
			requireValidDocs(t, docs)
			d := docs[0]
			require.Equal(t, tt.title, d.Title)
			require.Equal(t, float64(tt.pages), d.Metadata["pages"])
			for _, s := range tt.has {
				require.Contains(t, d.Text, s)
			}
			for _, s := range tt.hasNot {
				require.NotContains(t, d.Text, s)
			}
			tt.check(t, d)
		})
	}
}

func TestPDFLayoutHelpers(t *testing.T) {
	t.Run("fixPDFText", func(t *testing.T) {
		for in, want := range map[string]string{
			"e\uFB03cient \uFB01le \uFB02ow": "efficient file flow",
			"Caf´e na¨ıve fa¸cade":           "Café naïve façade",
			"Intro . . . . . . . 12":         "Intro … 12",
			"Intro.......12":                 "Intro … 12",
			"x... and 3.14. End.":            "x... and 3.14. End.",
			"a  ´ alone":                     "a ´ alone",
		} {
			require.Equal(t, want, fixPDFText(in), in)
		}
	})
	t.Run("isPageNumber", func(t *testing.T) {
		for s, want := range map[string]bool{
			"12": true, "- 12 -": true, "Page 3": true, "3 of 10": true, "iv": true, "xii": true,
			"Chapter 1": false, "civil": false, "2024 results": false, "": false,
		} {
			require.Equal(t, want, isPageNumber(s), s)
		}
	})
	t.Run("startsListItem", func(t *testing.T) {
		for s, want := range map[string]bool{
			"• item": true, "- item": true, "3. Step": true, "(b) option": true, "iv) no": false,
			"3.14 is pi": false, "•": false, "Plain text": false, "12) twelve": true,
		} {
			require.Equal(t, want, startsListItem(s), s)
		}
	})
	t.Run("parsePDFDate", func(t *testing.T) {
		for s, want := range map[string]string{
			"D:20250208122313Z":       "2025-02-08T12:23:13Z",
			"D:20220429171908+02'00'": "2022-04-29T17:19:08+02:00",
			"D:2021":                  "2021-01-01T00:00:00Z",
		} {
			got, ok := parsePDFDate(s)
			require.True(t, ok, s)
			require.Equal(t, want, got.Format(time.RFC3339))
		}
		for _, s := range []string{"", "yesterday", "D:20", "D:202513"} {
			_, ok := parsePDFDate(s)
			require.False(t, ok, s)
		}
	})
	t.Run("page chrome", func(t *testing.T) {
		line := func(s string) pdfLine { return pdfLine{text: s, size: 10} }
		var pages [][]pdfLine
		for i := range 4 {
			pages = append(pages, []pdfLine{line("Shared MIME-info Database"), line("body " + string(rune('a'+i))), line("Page " + string(rune('1'+i)))})
		}
		dropPageChrome(pages)
		require.Equal(t, "Shared MIME-info Database", pages[0][0].text) // a title on page 1 stays
		for i := 1; i < 4; i++ {
			require.Len(t, pages[i], 1)
			require.Equal(t, "body "+string(rune('a'+i)), pages[i][0].text)
		}
	})
}
