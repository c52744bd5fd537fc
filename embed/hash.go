package embed

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"
)

const (
	// DefaultHashDimension is HashConfig.Dimension's default.
	DefaultHashDimension = 256
	// MaxHashDimension is the largest HashConfig.Dimension, the largest
	// vector the index accepts.
	MaxHashDimension = 1 << 16
)

// Feature weights of the hash embedder. They are part of its "model": a
// change alters every vector, so it must come with a new Model name. Chosen
// on Cranfield (exact cosine search, 256 dimensions): trigrams as heavy as
// words gave nDCG@10 0.23 against 0.17 at a quarter of the weight, and
// bigrams at half weight cost 0.01 against none while keeping some word
// order (plain tf-idf: 0.33, Lucene BM25: 0.37).
const (
	weightWord    = 1.0
	weightBigram  = 0.5
	weightTrigram = 1.0
)

// Feature kinds, hashed in front of each feature so that the word "abc" and
// the trigram "abc" are different features.
const (
	kindWord = iota
	kindBigram
	kindTrigram
	numKinds
)

var kindWeights = [numKinds]float64{weightWord, weightBigram, weightTrigram}

// HashConfig configures NewHash.
type HashConfig struct {
	// Dimension is the length of the vectors, 1 to MaxHashDimension.
	// Default 256: enough room that a passage's few hundred features
	// rarely collide, small enough for fast tests and benchmarks.
	Dimension int
	// Seed selects the hash functions. Vectors made with different seeds
	// are unrelated. Default 0, which is a valid seed.
	Seed uint64
}

// DefaultHashConfig returns the defaults.
func DefaultHashConfig() HashConfig { return HashConfig{}.withDefaults() }

func (c HashConfig) withDefaults() HashConfig {
	if c.Dimension == 0 {
		c.Dimension = DefaultHashDimension
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones.
func (c HashConfig) Validate() error {
	c = c.withDefaults()
	if c.Dimension < 1 || c.Dimension > MaxHashDimension {
		return fmt.Errorf("%w: dimension %d out of range [1, %d]", ErrInvalidConfig, c.Dimension, MaxHashDimension)
	}
	return nil
}

// Hash is a deterministic feature-hashing Embedder: no model, no network,
// no data files. For each text it
//
//  1. lowercases it (unicode.ToLower, rune by rune) and splits it into
//     words: maximal runs of letters, marks and digits; everything else
//     separates words;
//  2. takes as features every word (weight 1), every pair of adjacent
//     words (weight 0.5) and every character trigram of each word padded
//     with boundary marks, "<" + word + ">" (weight 1; "jet" gives
//     "<je", "jet", "et>");
//  3. hashes each feature with 64-bit FNV-1a, seeded and followed by a
//     bit mixer, to one dimension (hash mod Dimension) and a sign (the top
//     bit), and adds sign × weight × √tf there, tf being the feature's count
//     in the text — a sublinear tf like 1+ln(tf), chosen because math.Sqrt
//     is correctly rounded, hence the same bits, on every platform, which
//     math.Log does not promise;
//  4. divides the sum by its L2 norm.
//
// The result is a unit vector whose cosine with another text's grows with
// their shared words, word pairs and word pieces. The arithmetic is float64
// in an order fixed by the text (features by kind, then by first
// appearance), with explicit roundings where Go could otherwise fuse a
// multiply-add, so the same text and config give bit-identical vectors on
// every run and platform (with the same Go Unicode tables for case mapping
// and letter classes).
//
// A text without features (empty, or only blanks, punctuation and symbols)
// has no direction; Embed rejects it with ErrEmptyText rather than return a
// zero vector that a cosine index would refuse later.
//
// Hash is safe for concurrent use.
type Hash struct {
	dim   int
	model string
	start [numKinds]uint64 // FNV state after the seed and the kind byte
	pool  sync.Pool        // *hashScratch
}

var _ Embedder = (*Hash)(nil)

// NewHash returns a Hash embedder.
func NewHash(cfg HashConfig) (*Hash, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	h := &Hash{dim: cfg.Dimension, model: "hash-" + strconv.Itoa(cfg.Dimension)}
	if cfg.Seed != 0 {
		h.model += "-seed" + strconv.FormatUint(cfg.Seed, 10)
	}
	for k := range numKinds {
		s := uint64(fnvOffset)
		for i := range 8 {
			s = fnvByte(s, byte(cfg.Seed>>(8*i)))
		}
		h.start[k] = fnvByte(s, byte(k))
	}
	h.pool.New = func() any { return &hashScratch{acc: make([]float64, h.dim)} }
	return h, nil
}

// Dimension returns the vector length.
func (h *Hash) Dimension() int { return h.dim }

// Model returns "hash-<dimension>", with "-seed<seed>" appended for a
// non-zero seed: vectors of different seeds must not be mixed.
func (h *Hash) Model() string { return h.model }

// Embed returns one unit vector per text (see Hash). It checks ctx before
// each text. A text without features fails the whole call with a *TextError
// that names the text's index and wraps ErrEmptyText.
func (h *Hash) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	slab := make([]float32, len(texts)*h.dim)
	sc := h.pool.Get().(*hashScratch)
	defer h.pool.Put(sc)
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v := slab[i*h.dim : (i+1)*h.dim : (i+1)*h.dim]
		if !h.embed(sc, text, v) {
			return nil, &TextError{Index: i, Err: ErrEmptyText}
		}
		out[i] = v
	}
	return out, nil
}

// hashScratch is the reusable working memory of one embed call.
type hashScratch struct {
	word, prev []rune             // the current word and the one before it
	padded     []rune             // '<' + word + '>'
	feats      [numKinds][]uint64 // feature hashes, by kind
	acc        []float64          // the vector being summed, Dimension long

	// A feature counter: an open-addressing table (linear probing, the
	// feature hash as its own, already mixed, table hash; a zero count
	// marks a free slot) and the used slots in order of first appearance.
	keys   []uint64
	counts []int32
	order  []int
}

// count tallies feats into the counter. Afterwards sc.order lists one slot
// per distinct feature, in the order the features first appear in the text,
// which fixes the summation order without sorting.
func (sc *hashScratch) count(feats []uint64) {
	size := 16
	for size < 2*len(feats) {
		size *= 2
	}
	if cap(sc.keys) < size {
		sc.keys, sc.counts = make([]uint64, size), make([]int32, size)
	}
	keys, counts := sc.keys[:size], sc.counts[:size]
	clear(counts)
	sc.keys, sc.counts = keys, counts
	mask := uint64(size - 1)
	sc.order = sc.order[:0]
	for _, f := range feats {
		i := f & mask
		for counts[i] != 0 && keys[i] != f {
			i = (i + 1) & mask
		}
		if counts[i] == 0 {
			keys[i] = f
			sc.order = append(sc.order, int(i))
		}
		counts[i]++
	}
}

// embed writes the unit vector of text into v and reports whether the text
// had a direction (features that did not cancel out).
func (h *Hash) embed(sc *hashScratch, text string, v []float32) bool {
	for k := range sc.feats {
		sc.feats[k] = sc.feats[k][:0]
	}
	sc.word, sc.prev = sc.word[:0], sc.prev[:0]
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) {
			sc.word = append(sc.word, unicode.ToLower(r))
			continue
		}
		h.endWord(sc)
	}
	h.endWord(sc)

	acc := sc.acc
	clear(acc)
	for k, feats := range sc.feats {
		sc.count(feats)
		for _, slot := range sc.order {
			f := sc.keys[slot]
			w := float64(kindWeights[k] * math.Sqrt(float64(sc.counts[slot])))
			idx := f % uint64(h.dim)
			if f>>63 != 0 {
				acc[idx] -= w
			} else {
				acc[idx] += w
			}
		}
	}
	var sum float64
	for _, x := range acc {
		sum += float64(x * x) // the conversion forbids a fused multiply-add
	}
	if sum == 0 {
		return false
	}
	norm := math.Sqrt(sum)
	for i, x := range acc {
		v[i] = float32(x / norm)
	}
	return true
}

// endWord turns the word in sc.word, if any, into its features and makes
// it the previous word.
func (h *Hash) endWord(sc *hashScratch) {
	if len(sc.word) == 0 {
		return
	}
	sc.feats[kindWord] = append(sc.feats[kindWord], mix(fnvRunes(h.start[kindWord], sc.word)))
	if len(sc.prev) > 0 {
		s := fnvRunes(h.start[kindBigram], sc.prev)
		s = fnvByte(s, ' ')
		sc.feats[kindBigram] = append(sc.feats[kindBigram], mix(fnvRunes(s, sc.word)))
	}
	sc.padded = append(append(append(sc.padded[:0], '<'), sc.word...), '>')
	for i := 0; i+3 <= len(sc.padded); i++ {
		sc.feats[kindTrigram] = append(sc.feats[kindTrigram], mix(fnvRunes(h.start[kindTrigram], sc.padded[i:i+3])))
	}
	sc.prev, sc.word = sc.word, sc.prev[:0]
}

// 64-bit FNV-1a (hash/fnv's constants), inlined to hash runes without
// building strings.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvByte(s uint64, b byte) uint64 { return (s ^ uint64(b)) * fnvPrime }

// fnvRunes hashes the UTF-8 encoding of rs.
func fnvRunes(s uint64, rs []rune) uint64 {
	var buf [utf8.UTFMax]byte
	for _, r := range rs {
		if r < utf8.RuneSelf {
			s = fnvByte(s, byte(r))
			continue
		}
		n := utf8.EncodeRune(buf[:], r)
		for _, b := range buf[:n] {
			s = fnvByte(s, b)
		}
	}
	return s
}

// mix is MurmurHash3's 64-bit finaliser: FNV's low bits, which pick the
// dimension, depend weakly on the last bytes; after mixing every bit
// depends on every input bit.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
