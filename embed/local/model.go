package local

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/ragd/ragd/embed"
)

// ModelName is what Model.Model returns under the default Config: the
// Universal Sentence Encoder lite, TF-Hub version 2.
const ModelName = "use-lite-2"

// Model is the Universal Sentence Encoder lite, run in pure Go: an
// embed.Embedder that needs no network and no files. Its vectors have 512
// dimensions, unit length, and match those of the published TF.js model
// (cosine ≥ 0.999 on the reference sentences, identical token ids).
//
// The first MaxTokens tokens of a text are embedded (see package spm for
// the tokenizer); the rest is dropped, as the TF.js graph drops every
// token after the 128th. Texts of more than about 100 English words are
// therefore cut: split long documents into passages before embedding them.
// Tokenisation stops soon after the tokens needed, so a long text costs
// little more than its first 128 tokens (except a long run of text
// without spaces, such as Chinese, which is tokenised to its end).
//
// Model is safe for concurrent use. Each Embed call runs on the calling
// goroutine, its texts packed into forward passes of up to PackTokens
// tokens (see Embed); callers parallelise by calling Embed from several
// goroutines.
type Model struct {
	w          *weights
	maxTokens  int
	packTokens int // 0: one text per forward pass, the unpacked path the benchmarks compare with
	name       string
	pool       sync.Pool // *workspace
}

var (
	_ embed.Embedder  = (*Model)(nil)
	_ embed.Tokenizer = (*Model)(nil)
	_ embed.Windowed  = (*Model)(nil)
)

// New returns a Model. The first call decodes the embedded model file
// (about 14 MB: checksum, float16 to float32, building the tokenizer),
// which takes some tens of milliseconds; the weights (28 MB) are then kept
// for the life of the process and shared by every Model.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w, err := loadShared()
	if err != nil {
		return nil, err
	}
	return newModel(w, cfg), nil
}

func newModel(w *weights, cfg Config) *Model {
	m := &Model{w: w, maxTokens: cfg.MaxTokens, packTokens: cfg.PackTokens, name: ModelName}
	if cfg.MaxTokens != MaxSequenceLength {
		m.name += "-max" + strconv.Itoa(cfg.MaxTokens)
	}
	m.pool.New = func() any { return new(workspace) }
	return m
}

// Dimension returns 512.
func (m *Model) Dimension() int { return Dimension }

// Model returns ModelName, with "-max<N>" appended when Config.MaxTokens
// is below MaxSequenceLength: such vectors differ for long texts and must
// not be mixed with the default ones.
func (m *Model) Model() string { return m.name }

// MaxTokens returns how many tokens of a text are embedded.
func (m *Model) MaxTokens() int { return m.maxTokens }

// Tokenize returns all the token ids of text, before the cut to
// MaxTokens, so that a caller can measure a passage against the limit.
func (m *Model) Tokenize(text string) []int32 { return m.w.tok.Encode(nil, text) }

// CountTokens returns the number of token ids of text (embed.Tokenizer),
// before the cut to MaxTokens.
func (m *Model) CountTokens(text string) int { return len(m.w.tok.Encode(nil, text)) }

// TokenizerName returns the model's name: its SentencePiece vocabulary.
func (m *Model) TokenizerName() string { return ModelName }

// Truncates reports whether the model reads only a first part of text: it
// has more than MaxTokens tokens. It tokenises no more of the text than it
// needs to tell.
func (m *Model) Truncates(text string) bool {
	return len(m.w.tok.EncodePrefix(nil, text, m.maxTokens+1)) > m.maxTokens
}

// Embed returns one unit vector of length 512 per text. A text that is
// empty or only white space has nothing to embed: it fails the whole call,
// before any work, with an *embed.TextError naming the text's index and
// wrapping embed.ErrEmptyText, as the OpenAI provider does. (Unlike the
// hash embedder, punctuation and symbols alone are embedded: the model has
// pieces for them, ":-)" among them.)
//
// The texts are packed: consecutive texts whose tokens add up to at most
// PackTokens go through the network together, their tokens side by side in
// each matrix product (attention stays within each text). A text's vector
// is bit for bit the one it gets alone. Embed checks ctx before each text,
// so a cancelled call stops within one pack.
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for i, text := range texts {
		if strings.TrimSpace(text) == "" {
			return nil, &embed.TextError{Index: i, Err: embed.ErrEmptyText}
		}
	}
	out := make([][]float32, len(texts))
	slab := make([]float32, len(texts)*Dimension)
	for i := range out {
		out[i] = slab[i*Dimension : (i+1)*Dimension : (i+1)*Dimension]
	}
	ws := m.pool.Get().(*workspace)
	defer m.pool.Put(ws)
	ws.ids, ws.ends = ws.ids[:0], ws.ends[:0]
	first := 0 // the pack's first text
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := len(ws.ids)
		ws.ids = m.w.tok.EncodePrefix(ws.ids, text, m.maxTokens)
		end := start + min(len(ws.ids)-start, m.maxTokens)
		ws.ids = ws.ids[:end]
		if end == start { // not reached: a text that is not blank has tokens
			return nil, &embed.TextError{Index: i, Err: embed.ErrEmptyText}
		}
		if start > 0 && end > m.packTokens {
			// Text i does not fit: run the pack before it, then start
			// the next pack with it.
			m.w.forward(ws, ws.ids[:start], ws.ends, slab[first*Dimension:i*Dimension])
			n := copy(ws.ids, ws.ids[start:end])
			ws.ids, ws.ends, first = ws.ids[:n], ws.ends[:0], i
		}
		ws.ends = append(ws.ends, len(ws.ids))
	}
	if len(ws.ends) > 0 {
		m.w.forward(ws, ws.ids, ws.ends, slab[first*Dimension:])
	}
	return out, nil
}
