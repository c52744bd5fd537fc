package ingest

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	xunicode "golang.org/x/text/encoding/unicode"
)

// LoadConfig configures Load. The zero value is usable: every zero field
// takes its default. It is a value; Load copies it.
type LoadConfig struct {
	// TextField is the JSONL field holding a line's text. Default "text".
	TextField string
	// IDField is the JSONL field holding a line's document ID (a string or
	// a number). Default "id". A line without it gets "<source>:<line>".
	IDField string
	// TitleField is the JSONL field holding a line's title (a string).
	// Default "title".
	TitleField string
	// MaxBytes is the largest input Load accepts; longer data fails with
	// ErrTooLarge before any parsing. Default 64 MiB: every loader holds
	// the whole file and its text in memory, and a PDF's pages in its
	// WebAssembly heap as well.
	MaxBytes int64
	// PDFTimeout bounds the time PDFium may spend on one PDF; a file that
	// takes longer (a pathological or hostile one) fails with ErrMalformed
	// instead of holding a worker forever. Default 2 minutes, far above
	// the tens of milliseconds a normal page takes.
	PDFTimeout time.Duration
}

// The LoadConfig defaults.
const (
	DefaultMaxBytes   = 64 << 20
	DefaultPDFTimeout = 2 * time.Minute
)

// DefaultLoadConfig returns the defaults that zero fields take.
func DefaultLoadConfig() LoadConfig {
	return LoadConfig{
		TextField:  "text",
		IDField:    "id",
		TitleField: "title",
		MaxBytes:   DefaultMaxBytes,
		PDFTimeout: DefaultPDFTimeout,
	}
}

// Validate reports the first invalid field. Zero fields are valid: they
// take their defaults.
func (c LoadConfig) Validate() error {
	switch {
	case c.MaxBytes < 0:
		return fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidConfig, c.MaxBytes)
	case c.PDFTimeout < 0:
		return fmt.Errorf("%w: PDFTimeout %v is negative", ErrInvalidConfig, c.PDFTimeout)
	}
	d := c.withDefaults()
	if d.TextField == d.IDField {
		return fmt.Errorf("%w: TextField and IDField are both %q", ErrInvalidConfig, d.TextField)
	}
	return nil
}

func (c LoadConfig) withDefaults() LoadConfig {
	d := DefaultLoadConfig()
	if c.TextField == "" {
		c.TextField = d.TextField
	}
	if c.IDField == "" {
		c.IDField = d.IDField
	}
	if c.TitleField == "" {
		c.TitleField = d.TitleField
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.PDFTimeout == 0 {
		c.PDFTimeout = d.PDFTimeout
	}
	return c
}

// Load turns the contents of one file into documents: one for every format
// but JSONL, which gives one per non-blank line. source names the file
// (Document.Source); its extension also tells source code from prose in
// FormatText. f is usually what Detect returned.
//
// Every document has Source set, valid UTF-8 Text that is not empty, and
// Blocks in order that cover all of the text but the blank lines between
// them. Errors wrap ErrUnsupported, ErrEmpty, ErrTooLarge, ErrMalformed or
// ErrInvalidConfig.
//
// Load is safe for concurrent use.
func Load(source string, data []byte, f Format, cfg LoadConfig) ([]Document, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if int64(len(data)) > cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrTooLarge, len(data), cfg.MaxBytes)
	}
	var docs []Document
	var err error
	switch f {
	case FormatText:
		docs, err = loadText(source, data)
	case FormatMarkdown:
		docs, err = loadMarkdown(data)
	case FormatHTML:
		docs, err = loadHTML(data)
	case FormatPDF:
		docs, err = loadPDF(data, cfg)
	case FormatJSONL:
		docs, err = loadJSONL(source, data, cfg)
	default:
		return nil, fmt.Errorf("%w: format %q", ErrUnsupported, f)
	}
	if err != nil {
		return nil, err
	}
	for i := range docs {
		docs[i].Source = source
	}
	return docs, nil
}

// loadText reads plain text: paragraphs separated by blank lines, or, for
// source code (by source's extension), blocks of code separated by blank
// lines.
func loadText(source string, data []byte) ([]Document, error) {
	s, err := decodeUTF8(data)
	if err != nil {
		return nil, err
	}
	kind := BlockParagraph
	if codeExtensions[strings.ToLower(path.Ext(source))] {
		kind = BlockCode
	}
	return textDocument(s, kind)
}

// textDocument splits s at blank lines into blocks of kind.
func textDocument(s string, kind BlockKind) ([]Document, error) {
	var b docBuilder
	start := 0 // of the current paragraph
	for i := 0; i <= len(s); {
		end := strings.IndexByte(s[i:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += i
		}
		if strings.TrimSpace(s[i:end]) == "" {
			b.add(kind, s[start:i], 0)
			start = end + 1
		}
		i = end + 1
	}
	if start < len(s) {
		b.add(kind, s[start:], 0)
	}
	return b.document("", nil)
}

// decodeUTF8 returns data as text: a UTF-16 file with a byte
// order mark is transcoded, a UTF-8 one loses its mark, line ends become
// "\n", and invalid UTF-8 sequences become U+FFFD. Data with NUL bytes is
// binary: ErrUnsupported.
func decodeUTF8(data []byte) (string, error) {
	if enc := bomEncoding(data); enc != nil {
		out, err := enc.NewDecoder().Bytes(data)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		data = out
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return "", fmt.Errorf("%w: binary data (NUL byte at offset %d)", ErrUnsupported, i)
	}
	s := string(data)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return s, nil
}

// bomEncoding returns the encoding that data's UTF-16 byte order mark
// announces, or nil.
func bomEncoding(data []byte) encoding.Encoding {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return xunicode.UTF16(xunicode.LittleEndian, xunicode.ExpectBOM)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return xunicode.UTF16(xunicode.BigEndian, xunicode.ExpectBOM)
	}
	return nil
}

// docBuilder assembles a Document's Text and Blocks: blocks are separated
// by a blank line, trimmed, and stamped with the heading path.
type docBuilder struct {
	text   strings.Builder
	blocks []Block
	// path is the heading path of the next block. Blocks share it, so it is
	// never changed in place: a heading replaces it with a fresh slice.
	path   []string
	levels []int
	page   int
	// firstH1 is the text of the first level-1 heading, the fallback title.
	firstH1 string
}

// add appends a block of text of kind. Prose is trimmed of surrounding
// white space, code only of blank lines before and white space after; a
// block left empty is dropped. Control characters other than tab and
// newline become spaces. A heading (level 1 to 6) updates the path.
func (b *docBuilder) add(kind BlockKind, s string, level int) {
	s = strings.Map(cleanRune, s)
	if kind == BlockCode {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
		for {
			i := strings.IndexByte(s, '\n')
			if i < 0 || strings.TrimSpace(s[:i]) != "" {
				break
			}
			s = s[i+1:]
		}
		if strings.TrimSpace(s) == "" {
			return
		}
	} else {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
	}
	if b.text.Len() > 0 {
		b.text.WriteString("\n\n")
	}
	blk := Block{Kind: kind, Start: b.text.Len(), Headings: b.path, Page: b.page}
	b.text.WriteString(s)
	blk.End = b.text.Len()
	if kind == BlockHeading {
		level = min(max(level, 1), 6)
		blk.Level = level
		i := len(b.levels)
		for i > 0 && b.levels[i-1] >= level {
			i--
		}
		blk.Headings = b.path[:i:i]
		b.levels = append(b.levels[:i], level)
		b.path = append(b.path[:i:i], strings.Join(strings.Fields(s), " "))
		if level == 1 && b.firstH1 == "" {
			b.firstH1 = b.path[i]
		}
	}
	if len(blk.Headings) == 0 {
		blk.Headings = nil
	}
	b.blocks = append(b.blocks, blk)
}

// cleanRune maps control characters but tab and newline to a space, and
// drops the byte order mark, soft hyphens, zero-width spaces and object
// replacement characters, which only confuse tokenizers.
func cleanRune(r rune) rune {
	switch {
	case r == '\t' || r == '\n':
		return r
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return ' '
	case r == '\uFEFF' || r == '\u00AD' || r == '\u200B' || r == '\uFFFC':
		return -1
	}
	return r
}

// document returns the one Document built, or ErrEmpty.
func (b *docBuilder) document(title string, meta map[string]any) ([]Document, error) {
	if len(b.blocks) == 0 {
		return nil, fmt.Errorf("%w: nothing but white space and markup", ErrEmpty)
	}
	return []Document{{Title: title, Text: b.text.String(), Blocks: b.blocks, Metadata: meta}}, nil
}
