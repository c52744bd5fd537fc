package ingest

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/ragd/ragd/embed"
)

// ChunkConfig configures Split.
type ChunkConfig struct {
	// MaxTokens is the budget of one chunk's Text, heading line included,
	// in Tokenizer's tokens: the embedder's window, or less. Required; at
	// least MinChunkTokens.
	MaxTokens int
	// Overlap is how many tokens of the end of a chunk the next chunk of
	// the same section starts with (whole sentences where they fit, else
	// whole words), so that a passage cut at a chunk boundary is whole in
	// one of them. 0 means none; at most MaxTokens/2. Overlap is taken
	// from running text only, never from code or tables.
	Overlap int
	// Tokenizer counts tokens as the target embedder does. Required.
	Tokenizer embed.Tokenizer
	// HeadingPrefix starts each chunk's Text with a line holding the
	// document's title and the chunk's heading path ("Effective Go >
	// Concurrency > Goroutines") and a blank line, and leaves the heading
	// blocks themselves out of the chunk bodies (the line stands for
	// them).
	HeadingPrefix bool
}

// MinChunkTokens is the smallest ChunkConfig.MaxTokens.
const MinChunkTokens = 16

// Validate reports the first invalid field.
func (c ChunkConfig) Validate() error {
	switch {
	case c.Tokenizer == nil:
		return fmt.Errorf("%w: chunk config: no tokenizer", ErrInvalidConfig)
	case c.MaxTokens < MinChunkTokens:
		return fmt.Errorf("%w: chunk config: max tokens %d below %d", ErrInvalidConfig, c.MaxTokens, MinChunkTokens)
	case c.Overlap < 0 || c.Overlap > c.MaxTokens/2:
		return fmt.Errorf("%w: chunk config: overlap %d out of range [0, %d] (half of max tokens %d)", ErrInvalidConfig, c.Overlap, c.MaxTokens/2, c.MaxTokens)
	}
	if w, ok := c.Tokenizer.(embed.Windowed); ok && w.MaxTokens() > 0 && c.MaxTokens > w.MaxTokens() {
		return fmt.Errorf("%w: chunk config: max tokens %d exceed the model's window of %d", ErrInvalidConfig, c.MaxTokens, w.MaxTokens())
	}
	return nil
}

// Chunk is one passage of a Document, sized for the embedder.
type Chunk struct {
	// Text is what is stored, embedded and shown: the heading line (with
	// ChunkConfig.HeadingPrefix), then the body, Document.Text[Start:End].
	Text string
	// Start and End are the body's byte offsets in Document.Text.
	Start, End int
	// Offset is Start in characters (Unicode code points).
	Offset int
	// Heading is the path of the headings the body sits under, joined
	// with " > "; empty outside any section.
	Heading string
	// Page is the PDF page the body starts on; 0 in other formats.
	Page int
	// Tokens is Text's length in the tokenizer's tokens.
	Tokens int
}

// HeadingSeparator joins the parts of a heading path.
const HeadingSeparator = " > "

// piece is a run of Document.Text that a chunk takes whole.
type piece struct {
	start, end int
	kind       BlockKind
	page       int
	tokens     int
	// split is set on a whole prose block that may be cut at sentences
	// to fill a chunk that would otherwise end up small.
	split bool
}

// Split cuts a document into chunks of at most cfg.MaxTokens tokens,
// following its structure: sections (headings) first, then blocks
// (paragraphs, list items, code blocks and tables, each kept whole where
// it fits a chunk), then sentences, then words — never inside a word or a
// character, except a single word longer than a whole chunk, which is cut
// between grapheme clusters. Chunks do not cross section boundaries, so
// each has one heading path. The bodies cover every non-blank part of
// Text in order (with HeadingPrefix, every part but the heading blocks);
// consecutive chunks of a section overlap by up to cfg.Overlap tokens.
// A body with no letter or digit (a lone rule line, say) makes no chunk;
// a document of headings only is chunked without the prefix, its headings
// as the bodies.
func Split(doc Document, cfg ChunkConfig) ([]Chunk, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	blocks := doc.Blocks
	if len(blocks) == 0 && strings.TrimSpace(doc.Text) != "" {
		blocks = []Block{{Kind: BlockParagraph, Start: 0, End: len(doc.Text)}}
	}
	if cfg.HeadingPrefix {
		if chunks := split(doc, blocks, cfg); len(chunks) > 0 {
			return chunks, nil
		}
		// Nothing but headings (a page whose body is a form, say): the
		// headings are the text.
		cfg.HeadingPrefix = false
	}
	return split(doc, blocks, cfg), nil
}

func split(doc Document, blocks []Block, cfg ChunkConfig) []Chunk {
	s := &splitter{doc: doc, cfg: cfg, offsets: newRuneOffsets(doc.Text)}
	for i := 0; i < len(blocks); {
		j := i + 1
		for j < len(blocks) && blocks[j].Kind != BlockHeading && samePath(blocks[j].Headings, blocks[i].Headings) && blocks[i].Kind != BlockHeading {
			j++
		}
		if blocks[i].Kind == BlockHeading {
			// A heading and the blocks under it form a section.
			path := append(append([]string(nil), blocks[i].Headings...), strings.TrimSpace(doc.Text[blocks[i].Start:blocks[i].End]))
			for j < len(blocks) && blocks[j].Kind != BlockHeading && samePath(blocks[j].Headings, path) {
				j++
			}
		}
		s.section(blocks[i:j])
		i = j
	}
	return s.out
}

func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type splitter struct {
	doc     Document
	cfg     ChunkConfig
	offsets runeOffsets
	out     []Chunk
}

// section chunks the blocks of one section (a heading block first, when
// there is one).
func (s *splitter) section(blocks []Block) {
	path := blocks[0].Headings
	if blocks[0].Kind == BlockHeading {
		path = append(append([]string(nil), path...), strings.TrimSpace(s.doc.Text[blocks[0].Start:blocks[0].End]))
		if s.cfg.HeadingPrefix {
			blocks = blocks[1:]
		}
	}
	if len(blocks) == 0 {
		return
	}
	heading := strings.Join(path, HeadingSeparator)
	prefix := ""
	if s.cfg.HeadingPrefix {
		prefix = s.prefix(path)
	}
	budget := s.cfg.MaxTokens
	if prefix != "" {
		budget -= s.count(prefix) + 1 // +1: a token the join may add
	}
	var pieces []piece
	for _, b := range blocks {
		pieces = append(pieces, s.blockPieces(b, budget)...)
	}
	s.pack(pieces, budget, prefix, heading)
}

// prefix is the heading line of a section's chunks: the title and the
// path, without repeating a first heading equal to the title, and cut
// from the front when it would take more than a quarter of the budget.
func (s *splitter) prefix(path []string) string {
	parts := path
	if t := strings.TrimSpace(s.doc.Title); t != "" && (len(path) == 0 || !strings.EqualFold(path[0], t)) {
		parts = append([]string{t}, path...)
	}
	for len(parts) > 0 {
		p := strings.Join(parts, HeadingSeparator) + "\n\n"
		if s.count(p) <= s.cfg.MaxTokens/4 {
			return p
		}
		parts = parts[1:]
	}
	return ""
}

func (s *splitter) count(text string) int { return s.cfg.Tokenizer.CountTokens(text) }

// blockPieces turns a block into pieces that each fit budget: the block
// itself when it fits, else its parts by kind.
func (s *splitter) blockPieces(b Block, budget int) []piece {
	start, end := trimSpan(s.doc.Text, b.Start, b.End)
	if start >= end {
		return nil
	}
	p := piece{start: start, end: end, kind: b.Kind, page: b.Page}
	p.tokens = s.count(s.doc.Text[start:end])
	if p.tokens <= budget {
		p.split = isProse(b.Kind)
		return []piece{p}
	}
	switch b.Kind {
	case BlockCode, BlockTable:
		return s.splitBy(p, budget, lineSpans, wordSpans, graphemeSpans)
	}
	return s.splitBy(p, budget, sentenceSpans, wordSpans, graphemeSpans)
}

func isProse(k BlockKind) bool {
	return k == BlockParagraph || k == BlockList || k == BlockQuote
}

// splitBy cuts a piece over budget into spans of the first level, each
// over budget cut again by the next levels.
func (s *splitter) splitBy(p piece, budget int, levels ...func(string, int) [][2]int) []piece {
	var out []piece
	for _, sp := range levels[0](s.doc.Text[p.start:p.end], p.start) {
		start, end := trimSpan(s.doc.Text, sp[0], sp[1])
		if start >= end {
			continue
		}
		q := piece{start: start, end: end, kind: p.kind, page: p.page}
		q.tokens = s.count(s.doc.Text[start:end])
		if q.tokens > budget && len(levels) > 1 {
			out = append(out, s.splitBy(q, budget, levels[1:]...)...)
			continue
		}
		out = append(out, q)
	}
	return out
}

// pack merges a section's pieces greedily into chunks of at most budget
// body tokens.
func (s *splitter) pack(pieces []piece, budget int, prefix, heading string) {
	text := s.doc.Text
	var cur struct {
		start, end, tokens int
		page               int
		last               piece
		open               bool
	}
	emit := func() {
		if cur.open {
			s.emit(cur.start, cur.end, cur.page, prefix, heading)
		}
		cur.open = false
	}
	for i := 0; i < len(pieces); i++ {
		p := pieces[i]
		if !cur.open {
			cur.start, cur.end, cur.tokens, cur.page, cur.last, cur.open = p.start, p.end, p.tokens, p.page, p, true
			continue
		}
		// The piece with the white space before it, counted in place: code
		// lines keep their indentation, which a tokenizer counts.
		if n, ok := s.fits(cur.start, p.end, cur.tokens+s.count(text[cur.end:p.end]), budget); ok {
			cur.end, cur.tokens, cur.last = p.end, n, p
			continue
		}
		// p does not fit. A whole paragraph may be cut at sentences to fill
		// a chunk that is not yet half full.
		if p.split && 2*cur.tokens < budget {
			if parts := s.splitBy(p, budget, sentenceSpans, wordSpans, graphemeSpans); len(parts) > 1 {
				pieces = append(pieces[:i], append(parts, pieces[i+1:]...)...)
				i--
				continue
			}
		}
		prev := cur.last
		prevEnd := cur.end
		emit()
		cur.start, cur.end, cur.tokens, cur.page, cur.last, cur.open = p.start, p.end, p.tokens, p.page, p, true
		if s.cfg.Overlap > 0 && isProse(prev.kind) {
			if os := s.overlapStart(prev, prevEnd); os < prevEnd {
				if n := s.count(text[os:p.end]); n <= budget {
					cur.start, cur.tokens = os, n
				}
			}
		}
	}
	emit()
}

// fits reports whether the body text[start:end] fits budget, and its
// token count: approx (the parts' counts summed) when that is clearly
// within budget, else the exact count.
func (s *splitter) fits(start, end, approx, budget int) (int, bool) {
	if approx*10 <= budget*9 {
		return approx, true
	}
	n := s.count(s.doc.Text[start:end])
	return n, n <= budget
}

// overlapStart is where the next chunk starts to repeat the end of the
// previous one, which ended at end inside piece last: the earliest
// sentence start, else word start, of last whose text up to end fits
// Overlap tokens; end when nothing fits.
func (s *splitter) overlapStart(last piece, end int) int {
	text := s.doc.Text[last.start:end]
	for _, level := range []func(string, int) [][2]int{sentenceSpans, wordSpans} {
		spans := level(text, last.start)
		for _, sp := range spans[min(1, len(spans)):] { // not the whole piece
			if s.count(s.doc.Text[sp[0]:end]) <= s.cfg.Overlap {
				return sp[0]
			}
		}
	}
	return end
}

// emit appends the chunks of body text[start:end]: one when prefix and
// body fit MaxTokens (the counts of parts need not add up exactly, so the
// whole is counted), else the longest prefix of the body that fits, cut
// after a word (or, inside one long word, after a character), and the rest
// in the same way. A body with no letter or digit makes no chunk.
func (s *splitter) emit(start, end, page int, prefix, heading string) {
	for start < end {
		n := s.count(prefix + s.doc.Text[start:end])
		cut := end
		if n > s.cfg.MaxTokens {
			cut = s.fitPrefix(start, end, prefix)
			if cut == start { // not one character fits beside the prefix
				prefix = ""
				continue
			}
			n = s.count(prefix + s.doc.Text[start:cut])
		}
		if body := s.doc.Text[start:cut]; hasWordChar(body) {
			s.out = append(s.out, Chunk{Text: prefix + body, Start: start, End: cut, Offset: s.offsets.at(start), Heading: heading, Page: page, Tokens: n})
		}
		start, _ = trimSpan(s.doc.Text, cut, end)
	}
}

// fitPrefix returns the end of the longest run text[start:e] that fits
// MaxTokens after prefix and ends after a word; when not even the first
// word fits, after a grapheme cluster, then after a character; start
// when nothing fits. It counts O(log n) candidates (binary search).
func (s *splitter) fitPrefix(start, end int, prefix string) int {
	fits := func(e int) bool { return s.count(prefix+s.doc.Text[start:e]) <= s.cfg.MaxTokens }
	for _, level := range []func(string, int) [][2]int{wordSpans, graphemeSpans, runeSpans} {
		spans := level(s.doc.Text[start:end], start)
		// The largest k with spans[:k] fitting; spans[:0] always does.
		k := sort.Search(len(spans), func(i int) bool { return !fits(spans[i][1]) })
		if k > 0 {
			_, e := trimSpan(s.doc.Text, start, spans[k-1][1])
			return e
		}
		end = spans[0][1] // the first unit alone does not fit: look inside it
	}
	return start
}

// runeSpans cuts s into characters.
func runeSpans(s string, base int) [][2]int {
	var out [][2]int
	for i, r := range s {
		out = append(out, [2]int{base + i, base + i + utf8.RuneLen(r)})
	}
	return out
}

func hasWordChar(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// trimSpan narrows [start, end) of text to exclude surrounding white space.
func trimSpan(text string, start, end int) (int, int) {
	for start < end {
		r, n := utf8.DecodeRuneInString(text[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		start += n
	}
	for end > start {
		r, n := utf8.DecodeLastRuneInString(text[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		end -= n
	}
	return start, end
}

// sentenceSpans cuts s (at offset base in the text) into sentences
// (Unicode UAX #29), with line breaks ending sentences too.
func sentenceSpans(s string, base int) [][2]int {
	var out [][2]int
	off := 0
	for _, line := range strings.SplitAfter(s, "\n") {
		rest, state := line, -1
		for len(rest) > 0 {
			var sent string
			sent, rest, state = uniseg.FirstSentenceInString(rest, state)
			out = append(out, [2]int{base + off, base + off + len(sent)})
			off += len(sent)
		}
	}
	return out
}

// lineSpans cuts s into lines.
func lineSpans(s string, base int) [][2]int {
	var out [][2]int
	off := 0
	for _, line := range strings.SplitAfter(s, "\n") {
		if line != "" {
			out = append(out, [2]int{base + off, base + off + len(line)})
		}
		off += len(line)
	}
	return out
}

// wordSpans cuts s into words, each with the spaces and punctuation that
// follow it (UAX #29 word boundaries), so no span starts or ends inside a
// word.
func wordSpans(s string, base int) [][2]int {
	var out [][2]int
	off, start := 0, 0
	rest, state := s, -1
	for len(rest) > 0 {
		var w string
		w, rest, state = uniseg.FirstWordInString(rest, state)
		r, _ := utf8.DecodeRuneInString(w)
		if off > start && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			out = append(out, [2]int{base + start, base + off})
			start = off
		}
		off += len(w)
	}
	if off > start {
		out = append(out, [2]int{base + start, base + off})
	}
	return out
}

// graphemeSpans cuts s into grapheme clusters (user-perceived
// characters): the last resort for a word longer than a chunk.
func graphemeSpans(s string, base int) [][2]int {
	var out [][2]int
	off := 0
	rest, state := s, -1
	for len(rest) > 0 {
		var g string
		g, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		out = append(out, [2]int{base + off, base + off + len(g)})
		off += len(g)
	}
	return out
}

// runeOffsets converts byte offsets of a text to character offsets.
type runeOffsets struct {
	text string
	// marks are (byte, character) offsets of rune boundaries about every
	// markEvery bytes, ascending.
	marks [][2]int
}

const markEvery = 4096

func newRuneOffsets(text string) runeOffsets {
	ro := runeOffsets{text: text, marks: [][2]int{{0, 0}}}
	n, next := 0, markEvery
	for i := range text {
		if i >= next {
			ro.marks = append(ro.marks, [2]int{i, n})
			next = i + markEvery
		}
		n++
	}
	return ro
}

// at returns the character offset of byte offset b (a rune boundary).
func (ro runeOffsets) at(b int) int {
	i := sort.Search(len(ro.marks), func(i int) bool { return ro.marks[i][0] > b }) - 1
	m := ro.marks[max(i, 0)]
	return m[1] + utf8.RuneCountInString(ro.text[m[0]:b])
}
