package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/local/internal/modelfile"
	"github.com/ragd/ragd/internal/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newTestModel(t testing.TB, cfg Config) *Model {
	m, err := New(cfg)
	require.NoError(t, err)
	return m
}

type reference struct {
	Text      string    `json:"text"`
	TokenIDs  []int32   `json:"token_ids"`
	Embedding []float32 `json:"embedding"`
}

// references reads the 12 sentences embedded by TF.js 4.22 with the 1.3.3
// tokenizer from the same model files (see SOURCE.md of the model).
func references(t testing.TB) []reference {
	f, err := os.Open("testdata/reference-embeddings.jsonl")
	require.NoError(t, err)
	defer f.Close()
	var refs []reference
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r reference
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		require.Len(t, r.Embedding, Dimension)
		refs = append(refs, r)
	}
	require.NoError(t, sc.Err())
	require.Len(t, refs, 12)
	return refs
}

func cosine(a, b []float32) float64 { return 1 - testutil.Distance("cosine", a, b) }

// TestReferenceEmbeddings is the exactness test: the same token ids as the
// JavaScript tokenizer and vectors within cosine 0.999 of TF.js's.
func TestReferenceEmbeddings(t *testing.T) {
	m := newTestModel(t, Config{})
	refs := references(t)
	texts := make([]string, len(refs))
	for i, r := range refs {
		texts[i] = r.Text
	}
	vs, err := m.Embed(context.Background(), texts)
	require.NoError(t, err)
	minCos, worst := 1.0, ""
	for i, r := range refs {
		require.Equal(t, r.TokenIDs, m.Tokenize(r.Text), "%q", r.Text)
		c := cosine(vs[i], r.Embedding)
		require.GreaterOrEqual(t, c, 0.999, "%q", r.Text)
		if c < minCos {
			minCos, worst = c, r.Text
		}
		var norm float64
		for _, x := range vs[i] {
			norm += float64(x) * float64(x)
		}
		require.InDelta(t, 1, norm, 1e-5)
	}
	t.Logf("min cosine with TF.js over %d sentences: %.7f (%q)", len(refs), minCos, worst)
}

// TestSanityPairs checks the similarities SOURCE.md quotes.
func TestSanityPairs(t *testing.T) {
	m := newTestModel(t, Config{})
	cases := []struct {
		a, b string
		want float64
	}{
		{"How old are you?", "What is your age?", 0.846},
		{"I like my phone.", "Your cellphone looks great.", 0.598},
		{"The cat sat on the mat.", "Quantum chromodynamics describes the strong interaction.", 0.098},
	}
	for _, c := range cases {
		t.Run(c.a, func(t *testing.T) {
			vs, err := m.Embed(context.Background(), []string{c.a, c.b})
			require.NoError(t, err)
			got := cosine(vs[0], vs[1])
			t.Logf("%q vs %q: %.4f (TF.js %.3f)", c.a, c.b, got, c.want)
			require.InDelta(t, c.want, got, 0.01)
		})
	}
}

func TestBatchEqualsSingle(t *testing.T) {
	m := newTestModel(t, Config{})
	texts := []string{"How old are you?", "a", passage(0), ":-)", "What is your age?", passage(1)}
	batch, err := m.Embed(context.Background(), texts)
	require.NoError(t, err)
	require.Len(t, batch, len(texts))
	for i, text := range texts {
		one, err := m.Embed(context.Background(), []string{text})
		require.NoError(t, err)
		require.Equal(t, one[0], batch[i], "text %d", i)
		require.Len(t, batch[i], m.Dimension())
	}
	empty, err := m.Embed(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestConcurrentEmbed(t *testing.T) {
	m := newTestModel(t, Config{})
	texts := []string{"How old are you?", passage(2), "Go has the usual mechanisms for control flow."}
	want, err := m.Embed(context.Background(), texts)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for range 2 {
				got, err := m.Embed(context.Background(), texts[g%len(texts):])
				if err != nil {
					errs <- err
					return
				}
				for i := range got {
					if !slicesEqual(got[i], want[g%len(texts)+i]) {
						errs <- errors.New("concurrent result differs")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func slicesEqual(a, b []float32) bool {
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

func TestEmbedErrors(t *testing.T) {
	m := newTestModel(t, Config{})
	for _, texts := range [][]string{{""}, {"fine", " \t\n\u00a0"}, {"fine", "also fine", ""}} {
		vs, err := m.Embed(context.Background(), texts)
		require.ErrorIs(t, err, embed.ErrEmptyText)
		var te *embed.TextError
		require.ErrorAs(t, err, &te)
		require.Equal(t, len(texts)-1, te.Index)
		require.Nil(t, vs)
		require.Contains(t, err.Error(), "text "+string(rune('0'+len(texts)-1)))
	}
	// Punctuation alone has pieces, so it is embedded.
	vs, err := m.Embed(context.Background(), []string{"...", ":-)"})
	require.NoError(t, err)
	require.Len(t, vs, 2)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	vs, err = m.Embed(ctx, []string{"a"})
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, vs)
}

// cancelAfter is a context that reports cancellation after its Err has
// been asked n times: Embed must notice between texts.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

func TestEmbedChecksContextBetweenTexts(t *testing.T) {
	m := newTestModel(t, Config{})
	ctx := &cancelAfter{Context: context.Background(), n: 2}
	vs, err := m.Embed(ctx, []string{"one", "two", "three", "four"})
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, vs)
	require.Equal(t, -1, ctx.n, "Embed went on after the cancellation")
}

func TestTruncation(t *testing.T) {
	m := newTestModel(t, Config{})
	long := strings.Repeat(passage(3)+" ", 4)
	ids := m.Tokenize(long)
	require.Greater(t, len(ids), MaxSequenceLength)

	vs, err := m.Embed(context.Background(), []string{long})
	require.NoError(t, err)
	want := make([]float32, Dimension)
	m.w.forwardOne(new(workspace), ids[:MaxSequenceLength], want)
	require.Equal(t, want, vs[0])

	short := newTestModel(t, Config{MaxTokens: 10})
	require.Equal(t, "use-lite-2-max10", short.Model())
	require.Equal(t, 10, short.MaxTokens())
	vs, err = short.Embed(context.Background(), []string{long})
	require.NoError(t, err)
	m.w.forwardOne(new(workspace), ids[:10], want)
	require.Equal(t, want, vs[0])
}

// TestTruncates checks Truncates and CountTokens against Tokenize at the
// window's edge.
func TestTruncates(t *testing.T) {
	m := newTestModel(t, Config{})
	words := strings.Fields(strings.Repeat(passage(3)+" ", 4))
	// The longest prefix of words that fits the window, and one word more.
	fit := 0
	for n := 1; n <= len(words); n++ {
		if len(m.Tokenize(strings.Join(words[:n], " "))) > MaxSequenceLength {
			break
		}
		fit = n
	}
	require.Less(t, fit, len(words))
	in, over := strings.Join(words[:fit], " "), strings.Join(words[:fit+1], " ")
	require.Equal(t, len(m.Tokenize(in)), m.CountTokens(in))
	require.LessOrEqual(t, m.CountTokens(in), MaxSequenceLength)
	require.False(t, m.Truncates(in))
	require.True(t, m.Truncates(over))
	require.False(t, m.Truncates(""))
	require.Equal(t, ModelName, m.TokenizerName())
}

func TestConfig(t *testing.T) {
	cases := []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{DefaultConfig(), true},
		{Config{MaxTokens: 1}, true},
		{Config{MaxTokens: MaxSequenceLength}, true},
		{Config{MaxTokens: MaxSequenceLength + 1}, false},
		{Config{MaxTokens: -1}, false},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if c.ok {
			require.NoError(t, err, "%+v", c.cfg)
			continue
		}
		require.ErrorIs(t, err, embed.ErrInvalidConfig, "%+v", c.cfg)
		_, err = New(c.cfg)
		require.ErrorIs(t, err, embed.ErrInvalidConfig)
	}
	require.Equal(t, MaxSequenceLength, DefaultConfig().MaxTokens)
	m := newTestModel(t, Config{})
	require.Equal(t, ModelName, m.Model())
	require.Equal(t, 512, m.Dimension())
}

// edited decodes the shipped file, applies edit and encodes it again.
func edited(t *testing.T, edit func(f *modelfile.File)) []byte {
	f, err := modelfile.Decode(modelFile)
	require.NoError(t, err)
	edit(f)
	var buf bytes.Buffer
	require.NoError(t, modelfile.Encode(&buf, f))
	return buf.Bytes()
}

func TestLoadRejectsCorruptFiles(t *testing.T) {
	cases := []struct {
		name string
		file func(t *testing.T) []byte
		want string
	}{
		{"truncated", func(t *testing.T) []byte { return modelFile[:len(modelFile)-1000] }, "truncated"},
		{"empty", func(t *testing.T) []byte { return nil }, "truncated"},
		{"bit flip", func(t *testing.T) []byte {
			b := bytes.Clone(modelFile)
			b[len(b)/3] ^= 1
			return b
		}, "CRC-32C"},
		{"tensor missing", func(t *testing.T) []byte {
			return edited(t, func(f *modelfile.File) { f.Tensors = f.Tensors[:len(f.Tensors)-2] })
		}, "missing"},
		{"wrong shape", func(t *testing.T) []byte {
			return edited(t, func(f *modelfile.File) {
				p := f.Tensor("pool.bias")
				p.Shape, p.Data = []int{511}, p.Data[:511]
			})
		}, "shape [511]"},
		{"unknown tensor", func(t *testing.T) []byte {
			return edited(t, func(f *modelfile.File) {
				f.Tensors = append(f.Tensors, modelfile.Tensor{Name: "extra", DType: modelfile.Float32, Data: []float32{1}})
			})
		}, "unknown tensor extra"},
		{"other max length", func(t *testing.T) []byte {
			return edited(t, func(f *modelfile.File) { f.Tensor("max_length").Data[0] = 256 })
		}, "max_length"},
		{"vocabulary larger than the table", func(t *testing.T) []byte {
			return edited(t, func(f *modelfile.File) {
				for range 3 {
					f.Pieces = append(f.Pieces, modelfile.Piece{Text: "zz", Score: -20})
				}
			})
		}, "rows"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := load(c.file(t))
			require.ErrorIs(t, err, ErrCorruptModel)
			require.Nil(t, w)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func FuzzLoad(f *testing.F) {
	var buf bytes.Buffer
	_ = modelfile.Encode(&buf, &modelfile.File{
		Pieces: []modelfile.Piece{{Text: "\ufffd"}, {Text: "<s>"}, {Text: "</s>"}, {Text: "a"}, {Text: "b"}, {Text: "c"}, {Text: "▁", Score: -1}},
		Tensors: []modelfile.Tensor{
			{Name: "embedding", DType: modelfile.Float16, Shape: []int{7, 2}, Data: make([]float32, 14)},
			{Name: "max_length", DType: modelfile.Float32, Data: []float32{128}},
			{Name: "norm.epsilon", DType: modelfile.Float32, Data: []float32{1e-6}},
		},
	})
	f.Add(buf.Bytes())
	f.Add(modelFile[:4096])
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := load(b)
		if err == nil {
			require.NotNil(t, w)
			return
		}
		require.ErrorIs(t, err, ErrCorruptModel)
	})
}

// passage returns one of a few 50-word English passages.
func passage(i int) string {
	ps := []string{
		"The boundary layer over a flat plate at supersonic speed was measured in a wind tunnel, and the heat transfer to the wall was compared with theory. Agreement was good near the leading edge, but farther downstream the measured values were higher, which the authors attribute to transition and to pressure gradients along the model.",
		"Retrieval systems split long documents into passages, embed each passage as a vector, and store the vectors in an index. A question is embedded the same way, and the passages whose vectors are closest are returned, ranked by similarity, so that a language model can answer with citations to the sources it used.",
		"Our team deployed the new service on a small cluster last week. Latency stayed under twenty milliseconds for most requests, memory use was flat, and the only incident came from a misconfigured health check that restarted pods during a rolling update. We fixed the probe and wrote a short postmortem for everyone.",
		"Strawberries are easy to grow in pots on a sunny balcony. Plant them in spring, water them often but do not let the roots sit in water, and feed them every two weeks once the flowers appear. Birds like the fruit as much as people do, so a light net helps a lot.",
	}
	return ps[i%len(ps)]
}
