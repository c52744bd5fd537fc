package rag

import (
	"cmp"
	"encoding/json"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/ragd/ragd/index"
)

// Metadata keys read from documents. `ragctl ingest` writes them: "source"
// (path or URL), "chunk" (0-based position in the source, a JSON number),
// "heading" (the heading path, "Title > Section", which is also the first
// line of the chunk's text) and "title" (the document's title).
const (
	metaSource  = "source"
	metaChunk   = "chunk"
	metaHeading = "heading"
	metaTitle   = "title"
)

// Passage is a piece of retrieved text as given to the model: one
// document, or several adjacent chunks of one source merged.
type Passage struct {
	// N is the passage's number in the prompt, 1-based: the model cites it
	// as [N].
	N int `json:"n"`
	// ID is the document ID of its first chunk; IDs lists the IDs of every
	// chunk merged into it, in source order.
	ID  string   `json:"id"`
	IDs []string `json:"ids,omitempty"`
	// Text is what the model was given: the chunks joined without their
	// repeated heading line and overlap, cut at a token boundary when
	// Truncated.
	Text string `json:"text"`
	// Metadata is the first chunk's.
	Metadata map[string]any `json:"metadata,omitempty"`
	// Score is the best search score of its chunks.
	Score float64 `json:"score"`
	// Source and Chunk say where it came from: the source's path or URL and
	// the number of its first chunk (from the metadata "source" and
	// "chunk", or the document's Source and Chunk).
	Source string `json:"source,omitempty"`
	Chunk  int    `json:"chunk"`
	// Title and Heading are the metadata "title" and "heading" of its
	// first chunk, "" when absent.
	Title   string `json:"title,omitempty"`
	Heading string `json:"heading,omitempty"`
	// Truncated tells that Text was cut to fit the token budget.
	Truncated bool `json:"truncated,omitempty"`
}

// piece is a passage under assembly.
type piece struct {
	Passage
	heading  string // the heading line at the start of the text, "" if none
	body     string // the text after the heading line
	hasChunk bool   // Source and Chunk are known, so it may merge
	last     int    // the number of its last chunk
	rank     int    // the best search rank of its chunks, for stable order
}

// fromHits turns search hits into pieces, in rank order. Hits without text
// are skipped: there is nothing to quote.
func fromHits(hits []index.Hit) []piece {
	out := make([]piece, 0, len(hits))
	for i, h := range hits {
		if strings.TrimSpace(h.Text) == "" {
			continue
		}
		p := piece{Passage: Passage{ID: h.ID, IDs: []string{h.ID}, Text: h.Text, Metadata: h.Metadata, Score: h.Score}, rank: i}
		p.Title = metaString(h.Metadata, metaTitle)
		p.Heading = metaString(h.Metadata, metaHeading)
		p.Source = metaString(h.Metadata, metaSource)
		if p.Source != "" {
			p.Chunk, p.hasChunk = metaInt(h.Metadata, metaChunk)
		} else if h.Source != "" {
			p.Source, p.Chunk, p.hasChunk = h.Source, h.Chunk, true
		}
		p.last = p.Chunk
		p.body = h.Text
		if p.Heading != "" {
			for _, sep := range []string{"\n\n", "\r\n\r\n", "\n"} {
				if rest, ok := strings.CutPrefix(h.Text, p.Heading+sep); ok {
					p.heading, p.body = p.Heading, rest
					break
				}
			}
		}
		out = append(out, p)
	}
	return out
}

func metaString(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// metaInt reads an integral JSON number, as decoded by encoding/json
// (float64 or json.Number) or set by a caller (int, int64).
func metaInt(m map[string]any, key string) (int, bool) {
	switch v := m[key].(type) {
	case float64:
		if v == math.Trunc(v) && v >= 0 && v <= math.MaxInt32 {
			return int(v), true
		}
	case int:
		return v, v >= 0
	case int64:
		if v >= 0 && v <= math.MaxInt32 {
			return int(v), true
		}
	case json.Number:
		if n, err := v.Int64(); err == nil && n >= 0 && n <= math.MaxInt32 {
			return int(n), true
		}
	}
	return 0, false
}

// byScore orders pieces best score first, ties by search rank.
func byScore(ps []piece) {
	slices.SortStableFunc(ps, func(a, b piece) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.rank, b.rank)
	})
}

// Near-duplicate detection: two passages are duplicates when their bodies
// (heading line excluded) are equal after normalisation — lower case,
// words of letters and digits only, single spaces — or when the Jaccard
// similarity of their sets of word 3-shingles is at least dupJaccard. Two
// copies of a document that differ by a word or two in a 200-word chunk
// score about 0.95; adjacent chunks, which share only their overlap, score
// far below.
const (
	dupJaccard = 0.9
	shingleLen = 3
)

// dedupe drops near-duplicates, keeping the best-scored of each group; it
// keeps the order of ps, which must be best first. It returns how many
// were dropped.
func dedupe(ps []piece) ([]piece, int) {
	type sig struct {
		norm     string
		shingles []uint64
	}
	kept := ps[:0:0]
	var sigs []sig
	dropped := 0
next:
	for _, p := range ps {
		words := normWords(p.body)
		s := sig{norm: strings.Join(words, " "), shingles: shingles(words)}
		for i, k := range kept {
			// Jaccard is at most the ratio of the sets' sizes: most pairs
			// are ruled out without comparing them.
			a, b := len(sigs[i].shingles), len(s.shingles)
			near := float64(min(a, b)) >= dupJaccard*float64(max(a, b)) && jaccard(sigs[i].shingles, s.shingles) >= dupJaccard
			if k.ID == p.ID || sigs[i].norm == s.norm || near {
				dropped++
				continue next
			}
		}
		kept = append(kept, p)
		sigs = append(sigs, s)
	}
	return kept, dropped
}

// normWords splits s into lower-case words of letters and digits.
func normWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// shingles returns the sorted, distinct hashes of the word shingleLen-grams
// of words (one shingle of all the words when there are fewer).
func shingles(words []string) []uint64 {
	n := max(1, len(words)-shingleLen+1)
	out := make([]uint64, 0, n)
	for i := range n {
		h := fnv.New64a()
		for _, w := range words[i:min(len(words), i+shingleLen)] {
			h.Write([]byte(w))
			h.Write([]byte{0})
		}
		out = append(out, h.Sum64())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// jaccard is |a ∩ b| / |a ∪ b| of two sorted sets.
func jaccard(a, b []uint64) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	inter, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// mergeAdjacent merges pieces of the same source whose chunk numbers are
// consecutive (3, 4 and 5 become one) into the first of them, which keeps
// its ID, metadata and position and takes the best score. It returns the
// pieces in the order of ps (re-sort by score after) and how many were
// merged away.
func mergeAdjacent(ps []piece) ([]piece, int) {
	bySource := map[string][]int{}
	for i, p := range ps {
		if p.hasChunk && p.Source != "" {
			bySource[p.Source] = append(bySource[p.Source], i)
		}
	}
	gone := make([]bool, len(ps))
	merged := 0
	for _, idx := range bySource {
		if len(idx) < 2 {
			continue
		}
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(ps[a].Chunk, ps[b].Chunk) })
		head := idx[0]
		for _, i := range idx[1:] {
			if ps[i].Chunk == ps[head].last+1 {
				ps[head] = join(ps[head], ps[i])
				gone[i] = true
				merged++
				continue
			}
			head = i
		}
	}
	out := ps[:0:0]
	for i, p := range ps {
		if !gone[i] {
			out = append(out, p)
		}
	}
	return out, merged
}

// join appends chunk b to a: the heading line once when both have the same
// one, the overlap between a's end and b's start once.
func join(a, b piece) piece {
	if b.heading == a.heading {
		a.body = joinOverlap(a.body, b.body)
	} else {
		// b starts another section: keep its heading line.
		a.body = joinOverlap(a.body, b.Text)
	}
	if a.heading != "" {
		a.Text = a.heading + "\n\n" + a.body
	} else {
		a.Text = a.body
	}
	a.IDs = append(slices.Clip(a.IDs), b.IDs...)
	a.Score = max(a.Score, b.Score)
	a.rank = min(a.rank, b.rank)
	a.last = b.last
	return a
}

// minOverlap is the shortest overlap removed when joining chunks, in
// bytes: shorter common strings ("the ") are coincidences, not the
// chunker's overlap.
const minOverlap = 16

// joinOverlap joins a and b, writing once the longest suffix of a that is
// also a prefix of b — if it is at least minOverlap bytes long and starts
// at a word boundary in a. Without one, it separates them by a blank line.
func joinOverlap(a, b string) string {
	a = strings.TrimRightFunc(a, unicode.IsSpace)
	b = strings.TrimLeftFunc(b, unicode.IsSpace)
	if k := overlap(a, b); k > 0 {
		return a + b[k:]
	}
	if a == "" || b == "" {
		return a + b
	}
	return a + "\n\n" + b
}

// overlap returns the length of the longest suffix of a that is a prefix of
// b, is at least minOverlap bytes and starts at a word boundary of a; 0 if
// none. It runs in O(len(a)+len(b)): the prefix function (KMP) of b, then a
// scan of a.
func overlap(a, b string) int {
	m := min(len(a), len(b))
	if m < minOverlap {
		return 0
	}
	p := b[:m]
	pi := make([]int, m)
	for i, k := 1, 0; i < m; i++ {
		for k > 0 && p[i] != p[k] {
			k = pi[k-1]
		}
		if p[i] == p[k] {
			k++
		}
		pi[i] = k
	}
	k := 0
	for i := len(a) - m; i < len(a); i++ {
		for k > 0 && (k == m || a[i] != p[k]) {
			k = pi[k-1]
		}
		if a[i] == p[k] {
			k++
		}
	}
	// k is the longest; shorter candidates follow the failure links.
	for ; k >= minOverlap; k = pi[k-1] {
		start := len(a) - k
		if start == 0 || isBoundary(a[start-1]) || isBoundary(a[start]) {
			return k
		}
	}
	return 0
}

// isBoundary tells whether byte c separates words (ASCII white space or
// punctuation). Bytes of multi-byte characters are not boundaries.
func isBoundary(c byte) bool {
	return c < 0x80 && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_')
}
