package local

import (
	_ "embed" // the model file
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/ragd/ragd/embed/local/internal/modelfile"
	"github.com/ragd/ragd/embed/local/spm"
)

// modelFile is the Universal Sentence Encoder lite, converted from the TF.js
// files by internal/convert (docs/format/use-lite.md).
//
//go:embed model/use-lite.bin
var modelFile []byte

// The network's sizes. The loader checks every tensor against them.
const (
	// Dimension is the length of the vectors.
	Dimension = 512

	embedWidth = 256  // token embeddings and layer 0's attention
	hidden     = 512  // the residual stream from layer 0's output on
	ffnWidth   = 1536 // the feed-forward layers' inner width
	heads      = 4    // attention heads in both layers

	reservedPieces = 6 // unknown, <s>, </s> and three extra ids: never matched
)

// loadShared decodes the embedded file once; every Model shares the
// result, which is never written after loading.
var loadShared = sync.OnceValues(func() (*weights, error) { return load(modelFile) })

// weights is the decoded model, immutable and shared.
type weights struct {
	tok       *spm.Tokenizer
	embedding []float32 // vocabulary rows × embedWidth
	timing    []float32 // maxLen rows × embedWidth: sin and cos of position × timescale
	maxLen    int
	normEps   float32 // layer norm epsilon, added to the variance
	l2Eps     float32 // floor of the squared norm before the final normalisation
	layers    [2]layer
	pool      linear // the tanh layer after mean pooling
}

// layer is one transformer layer.
type layer struct {
	width                   int // attention width (q, k and v each)
	attnNormScale, attnNorm []float32
	residual                *linear // projection of the input added after attention; nil: identity
	qkv, out                linear
	attnScale               float32 // multiplies q: 1/sqrt(head width)
	ffnNormScale, ffnNorm   []float32
	ffn1, ffn2              linear
}

// linear is y = W·x + b with W stored one row per output.
type linear struct {
	w       []float32 // out rows × in
	b       []float32 // out
	in, out int
	rows    int // output rows per cache block in apply, a multiple of 4
}

// load decodes and checks a model file.
func load(b []byte) (*weights, error) {
	f, err := modelfile.Decode(b)
	if ce := (*modelfile.CorruptionError)(nil); errors.As(err, &ce) {
		return nil, fmt.Errorf("%w: %s", ErrCorruptModel, ce.Detail())
	} else if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptModel, err)
	}
	w, err := fromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptModel, err)
	}
	return w, nil
}

// tensors hands out a file's tensors by name, checking their shapes.
type tensors struct {
	f    *modelfile.File
	used map[string]bool
	err  error
}

func (ts *tensors) get(name string, shape ...int) []float32 {
	if ts.err != nil {
		return nil
	}
	t := ts.f.Tensor(name)
	switch {
	case t == nil:
		ts.err = fmt.Errorf("tensor %s missing", name)
		return nil
	case !slices.Equal(t.Shape, shape):
		ts.err = fmt.Errorf("tensor %s has shape %v, want %v", name, t.Shape, shape)
		return nil
	}
	ts.used[name] = true
	return t.Data
}

func (ts *tensors) scalar(name string) float32 {
	if v := ts.get(name); v != nil {
		return v[0]
	}
	return 0
}

func (ts *tensors) linear(name string, in, out int) linear {
	return linear{
		w: ts.get(name+".weight", out, in), b: ts.get(name+".bias", out),
		in: in, out: out,
		// About 24 KiB of weights per block, in whole tiles of the
		// DotBlockBatch kernels (4 rows): they stay in L1 cache while
		// every token passes. Measured on AVX-512 with the 50-word
		// benchmark passage: 16 to 48 KiB equal within noise, 8 KiB and
		// 64 KiB or more 5-10 % slower.
		rows: max(4, 6144/in&^3),
	}
}

func fromFile(f *modelfile.File) (*weights, error) {
	ts := &tensors{f: f, used: map[string]bool{}}
	w := &weights{}

	pieces := make([]spm.Piece, len(f.Pieces))
	for i, p := range f.Pieces {
		pieces[i] = spm.Piece{Text: p.Text, Score: p.Score}
	}
	tok, err := spm.New(pieces, reservedPieces)
	if err != nil {
		return nil, err
	}
	w.tok = tok
	if e := f.Tensor("embedding"); e != nil && len(e.Shape) == 2 {
		if e.Shape[0] < tok.Len() {
			return nil, fmt.Errorf("embedding has %d rows for %d pieces", e.Shape[0], tok.Len())
		}
		w.embedding = ts.get("embedding", e.Shape[0], embedWidth)
	} else {
		w.embedding = ts.get("embedding", -1, embedWidth) // reports the problem
	}
	maxLen := ts.scalar("max_length")
	if ts.err == nil && (maxLen != float32(MaxSequenceLength)) {
		return nil, fmt.Errorf("max_length %v, this build computes %d", maxLen, MaxSequenceLength)
	}
	w.maxLen = MaxSequenceLength
	inv := ts.get("timing.inv_timescales", embedWidth/2)
	w.normEps = ts.scalar("norm.epsilon")
	w.l2Eps = ts.scalar("l2.epsilon")
	for i, width := range []int{embedWidth, hidden} {
		p := fmt.Sprintf("l%d.", i)
		l := &w.layers[i]
		l.width = width
		in := hidden
		if i == 0 {
			in = embedWidth
			r := ts.linear("l0.residual", embedWidth, hidden)
			l.residual = &r
		}
		l.attnNormScale = ts.get(p+"attn_norm.scale", in)
		l.attnNorm = ts.get(p+"attn_norm.bias", in)
		l.qkv = ts.linear(p+"qkv", in, 3*width)
		l.attnScale = ts.scalar(p + "attn.scale")
		l.out = ts.linear(p+"out", width, hidden)
		l.ffnNormScale = ts.get(p+"ffn_norm.scale", hidden)
		l.ffnNorm = ts.get(p+"ffn_norm.bias", hidden)
		l.ffn1 = ts.linear(p+"ffn1", hidden, ffnWidth)
		l.ffn2 = ts.linear(p+"ffn2", ffnWidth, hidden)
	}
	w.pool = ts.linear("pool", hidden, Dimension)
	if ts.err != nil {
		return nil, ts.err
	}
	for _, t := range f.Tensors {
		if !ts.used[t.Name] && t.Name != "max_length" {
			return nil, fmt.Errorf("unknown tensor %s", t.Name)
		}
	}

	// The timing signal of TF's tensor2tensor: position t gets
	// [sin(t·inv_0), …, sin(t·inv_127), cos(t·inv_0), …, cos(t·inv_127)],
	// the product in float32 as in the graph.
	w.timing = make([]float32, w.maxLen*embedWidth)
	for t := range w.maxLen {
		row := w.timing[t*embedWidth : (t+1)*embedWidth]
		for i, x := range inv {
			a := float64(float32(t) * x)
			row[i], row[i+len(inv)] = float32(math.Sin(a)), float32(math.Cos(a))
		}
	}
	return w, nil
}
