// Package spm is a SentencePiece unigram tokenizer that reproduces, id for
// id, the JavaScript tokenizer of @tensorflow-models/universal-sentence-encoder
// 1.3.3, the one the Universal Sentence Encoder lite was published with.
//
// Encoding a text:
//
//  1. NFKC-normalise it; if the result is not empty, replace every
//     ordinary space (U+0020, and so everything NFKC maps to it, such as
//     U+00A0) with U+2581 '▁' and put one '▁' in front. Tabs, newlines
//     and other blanks stay as they are (and are unknown to the USE
//     vocabulary).
//  2. Find the segmentation into vocabulary pieces whose summed scores are
//     highest (Viterbi), working on UTF-16 code units as JavaScript does.
//     A position no piece starts at gets a one-unit "unknown" piece of
//     score 0 and id 0.
//  3. Read the pieces back from the end and collapse each run of unknown
//     ids into one 0.
//
// Quirks of the JavaScript code that are reproduced on purpose, because
// they change ids:
//
//   - A piece whose score is null in the vocabulary file counts as 0 (the
//     caller passes 0): the best possible score for a log probability.
//   - The Viterbi loop treats a running score of exactly 0 as "not set
//     yet", so any candidate replaces it, even a worse one. Ties go to the
//     candidate that starts later (the shorter piece).
//   - The first reserved pieces (unknown, control and user-defined
//     symbols) never match text.
//   - When a piece text appears more than once, the last one's id and score
//     win.
//   - Matching is case-sensitive, and an astral character (two UTF-16
//     units) that no piece contains becomes two unknown units, hence one 0.
//
// A Tokenizer is immutable and safe for concurrent use.
package spm

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Separator replaces ordinary spaces and starts every non-empty text.
const Separator = '\u2581'

// UnknownID is the id of text that no piece matches.
const UnknownID = 0

// ErrInvalidVocabulary is wrapped by New's errors.
var ErrInvalidVocabulary = errors.New("spm: invalid vocabulary")

// Piece is one vocabulary entry, its id being its index.
type Piece struct {
	Text  string
	Score float64 // log probability; pass 0 for a null score
}

// Tokenizer encodes text into piece ids.
type Tokenizer struct {
	// The trie over UTF-16 units: node 0 is the root; child[key(node,
	// unit)] is the child; id[node] is the id of the piece ending there,
	// or -1.
	child map[uint64]int32
	id    []int32
	score []float64 // by node

	step     []int32 // by piece id: its length in UTF-16 units
	maxLen   int     // longest piece, in UTF-16 units
	cuttable bool    // no matchable piece has '▁' after its first unit
	segment  int     // normalised bytes to gather before cutting at a space
	pool     sync.Pool
}

func key(node int32, unit uint16) uint64 { return uint64(node)<<16 | uint64(unit) }

// New builds a tokenizer over pieces, of which the first reserved never
// match (USE: 6). It fails on an empty or non-UTF-8 piece, a NaN or
// infinite score, or fewer pieces than reserved + 1.
func New(pieces []Piece, reserved int) (*Tokenizer, error) {
	if reserved < 1 || len(pieces) <= reserved || len(pieces) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d pieces with %d reserved", ErrInvalidVocabulary, len(pieces), reserved)
	}
	t := &Tokenizer{
		child:   make(map[uint64]int32, len(pieces)*4),
		id:      []int32{-1},
		score:   []float64{0},
		step:    make([]int32, len(pieces)),
		segment: segmentBytes,
	}
	t.cuttable = true
	var units []uint16
	for i, p := range pieces {
		if p.Text == "" || !utf8.ValidString(p.Text) || math.IsNaN(p.Score) || math.IsInf(p.Score, 0) {
			return nil, fmt.Errorf("%w: piece %d (%q, score %g)", ErrInvalidVocabulary, i, p.Text, p.Score)
		}
		units = appendUTF16(units[:0], p.Text)
		t.step[i] = int32(len(units))
		if i < reserved {
			continue
		}
		t.maxLen = max(t.maxLen, len(units))
		if _, size := utf8.DecodeRuneInString(p.Text); strings.ContainsRune(p.Text[size:], Separator) {
			t.cuttable = false
		}
		node := int32(0)
		for _, u := range units {
			next, ok := t.child[key(node, u)]
			if !ok {
				next = int32(len(t.id))
				t.child[key(node, u)] = next
				t.id = append(t.id, -1)
				t.score = append(t.score, 0)
			}
			node = next
		}
		t.id[node], t.score[node] = int32(i), p.Score // the last duplicate wins
	}
	t.pool.New = func() any { return new(scratch) }
	return t, nil
}

// Len returns the number of pieces, one more than the largest id.
func (t *Tokenizer) Len() int { return len(t.step) }

// scratch is the working memory of one Encode call.
type scratch struct {
	it    norm.Iter // here rather than on the stack, where it escapes
	text  []byte    // normalised text not yet encoded
	units []uint16
	best  []float64
	words []int32
	ids   []int32
}

// maxPooledUnits bounds the scratch kept for reuse, so that one huge text
// does not pin its buffers.
const maxPooledUnits = 1 << 16

// segmentBytes is the normalised text encoded at a time, when it can be
// cut at a space (see Encode).
const segmentBytes = 2048

func appendUTF16(dst []uint16, s string) []uint16 {
	for _, r := range s {
		dst = utf16.AppendRune(dst, r)
	}
	return dst
}

// Normalize returns the text the Viterbi search runs on: NFKC, every
// U+0020 replaced by '▁', and one '▁' in front unless it is empty.
func Normalize(text string) string {
	s := norm.NFKC.String(text)
	if s == "" {
		return s
	}
	return string(Separator) + strings.ReplaceAll(s, " ", string(Separator))
}

// Encode appends the ids of text to dst and returns the extended slice. An
// empty text gives no ids; any other text gives at least one. Invalid UTF-8
// is read as U+FFFD, one per bad byte, which is unknown.
func (t *Tokenizer) Encode(dst []int32, text string) []int32 {
	return t.encode(dst, text, -1)
}

// EncodePrefix is Encode for a caller that needs only the first n ids: it
// appends at least those (all ids if there are fewer), equal to Encode's,
// and may stop early on a long text, so that its cost depends on n more
// than on the length of text.
func (t *Tokenizer) EncodePrefix(dst []int32, text string, n int) []int32 {
	return t.encode(dst, text, max(n, 0))
}

// encode appends the ids of text to dst, stopping once it has appended at
// least limit of them, unless limit < 0.
//
// When no piece has '▁' after its first unit (the USE vocabulary), no
// piece spans the position before a '▁', so every segmentation passes
// through it: the text can be encoded segment by segment, each cut just
// before a space, with the running score carried over. The additions and
// comparisons are then those of the single search over the whole text,
// so the ids are the same, and the search can stop after any segment.
func (t *Tokenizer) encode(dst []int32, text string, limit int) []int32 {
	s := t.pool.Get().(*scratch)
	defer func() {
		s.it = norm.Iter{} // let go of text
		if cap(s.units) <= maxPooledUnits {
			t.pool.Put(s)
		}
	}()
	start := len(dst)
	it := &s.it
	it.InitString(norm.NFKC, text)
	s.text = s.text[:0]
	lastSpace := -1 // in s.text
	first, carry := true, 0.0
	for !it.Done() {
		seg := it.Next()
		if i := bytes.LastIndexByte(seg, ' '); i >= 0 {
			lastSpace = len(s.text) + i
		}
		s.text = append(s.text, seg...)
		if !t.cuttable || len(s.text) < t.segment || lastSpace <= 0 {
			continue
		}
		dst, carry = t.viterbi(s, dst, start, s.text[:lastSpace], first, carry)
		first = false
		s.text = append(s.text[:0], s.text[lastSpace:]...)
		lastSpace = 0
		if limit >= 0 && len(dst)-start >= limit {
			return dst
		}
	}
	if len(s.text) > 0 {
		dst, _ = t.viterbi(s, dst, start, s.text, first, carry)
	}
	return dst
}

// viterbi encodes one segment of normalised text, its spaces not yet
// replaced, and appends the ids to dst. The first segment gets the leading
// '▁'; a later one starts at a space, with carry, the best score of all
// the text before it. It returns the best score at the segment's end.
func (t *Tokenizer) viterbi(s *scratch, dst []int32, start int, text []byte, first bool, carry float64) ([]int32, float64) {
	s.units = s.units[:0]
	if first {
		s.units = append(s.units, Separator)
	}
	for len(text) > 0 {
		r, size := utf8.DecodeRune(text)
		text = text[size:]
		if r == ' ' {
			r = Separator
		}
		s.units = utf16.AppendRune(s.units, r)
	}
	n := len(s.units)
	s.best = grow(s.best, n+1)
	s.words = grow(s.words, n+1)
	best, words := s.best, s.words
	best[0] = carry

	// JavaScript builds the lattice first and then relaxes each end
	// position from its start positions in ascending order. Walking the
	// start positions in ascending order and relaxing every piece that
	// starts there performs, for each end position, the same updates in
	// the same order (best[start] is final by then either way), without
	// storing the lattice.
	for from := range n {
		node, found := int32(0), false
		for l := 1; l <= t.maxLen && from+l <= n; l++ {
			next, ok := t.child[key(node, s.units[from+l-1])]
			if !ok {
				break
			}
			node = next
			if id := t.id[node]; id >= 0 {
				found = true
				relax(best, words, from, from+l, id, t.score[node])
			}
		}
		if !found { // the unknown unit
			relax(best, words, from, from+1, UnknownID, 0)
		}
	}

	// Back from the end; a run of unknown ids becomes one, also across
	// segments.
	ids := s.ids[:0]
	for pos := n; pos > 0; pos -= int(t.step[words[pos]]) {
		id := words[pos]
		if id == UnknownID && len(ids) > 0 && ids[len(ids)-1] == UnknownID {
			continue
		}
		ids = append(ids, id)
	}
	s.ids = ids
	for i := len(ids) - 1; i >= 0; i-- {
		if ids[i] == UnknownID && len(dst) > start && dst[len(dst)-1] == UnknownID {
			continue
		}
		dst = append(dst, ids[i])
	}
	return dst, best[n]
}

// relax offers the piece id from start to end, as the JavaScript loop
// does: a best score of exactly 0 counts as unset, and ties go to the
// later candidate.
func relax(best []float64, words []int32, start, end int, id int32, score float64) {
	score += best[start]
	if best[end] == 0 || score >= best[end] {
		best[end], words[end] = score, id
	}
}

// grow returns a zeroed slice of length n, reusing b's memory when it can.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	b = b[:n]
	clear(b)
	return b
}
