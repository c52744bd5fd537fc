package index

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// topicCorpus makes n documents of 4–8 sentences each about one of 20
// topics: a sentence mixes words of its topic with common words, so BM25
// can find a document from one of its sentences, imperfectly.
func topicCorpus(seed uint64, n int) []Document {
	rng := rand.New(rand.NewPCG(seed, 3))
	common := make([]string, 300)
	for i := range common {
		common[i] = fmt.Sprintf("w%d", i)
	}
	docs := make([]Document, n)
	for i := range docs {
		topic := rng.IntN(20)
		var b strings.Builder
		for range 4 + rng.IntN(5) {
			words := 6 + rng.IntN(10)
			for w := range words {
				if w > 0 {
					b.WriteByte(' ')
				}
				if rng.Float64() < 0.35 {
					fmt.Fprintf(&b, "t%dx%d", topic, rng.IntN(40))
				} else {
					// Zipf-like: small indexes far more often.
					b.WriteString(common[int(math.Floor(math.Pow(rng.Float64(), 3)*float64(len(common))))])
				}
			}
			b.WriteString(". ")
		}
		docs[i] = Document{ID: fmt.Sprintf("doc-%04d", i), Text: strings.TrimSpace(b.String())}
	}
	return docs
}

// randomEmbed is a useless embedder: a unit vector drawn from a hash of
// the text, the same for the same text.
func randomEmbed(dim int) EmbedFunc {
	return func(_ context.Context, texts []string) ([][]float32, error) {
		out := make([][]float32, len(texts))
		for i, t := range texts {
			h := fnv.New64a()
			h.Write([]byte(t))
			rng := rand.New(rand.NewPCG(h.Sum64(), 1))
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(rng.NormFloat64())
			}
			out[i] = v
		}
		return out, nil
	}
}

func embedDocs(t testing.TB, c *Collection, docs []Document, emb EmbedFunc) {
	t.Helper()
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	vs, err := emb(ctx, texts)
	require.NoError(t, err)
	for i := range docs {
		docs[i].Vector = vs[i]
	}
	_, err = c.Upsert(ctx, docs)
	require.NoError(t, err)
}

// heldOut is an evaluation the calibration never saw: a sentence of each
// of up to n documents (drawn with another seed) as the query, its
// document as the answer; it returns the mean reciprocal rank (top 10) of
// the default search and of each leg.
func heldOut(t testing.TB, c *Collection, docs []Document, emb EmbedFunc, n int) (def, bm25, vector float64) {
	t.Helper()
	m := 0
	for _, d := range docs {
		if m == n {
			break
		}
		q, ok := askAbout(sample{id: d.ID, text: d.Text}, 9999)
		if !ok {
			continue
		}
		m++
		vs, err := emb(ctx, []string{q.query})
		require.NoError(t, err)
		rr := func(req SearchRequest) float64 {
			req.Text, req.Vector, req.K = q.query, vs[0], 10
			if req.Mode == ModeText {
				req.Vector = nil
			}
			if req.Mode == ModeVector {
				req.Text = ""
			}
			res, err := c.Search(ctx, req)
			require.NoError(t, err)
			for i, h := range res.Hits {
				if h.ID == d.ID {
					return 1 / float64(i+1)
				}
			}
			return 0
		}
		def += rr(SearchRequest{})
		bm25 += rr(SearchRequest{Mode: ModeText})
		vector += rr(SearchRequest{Mode: ModeVector})
	}
	require.Positive(t, m)
	return def / float64(m), bm25 / float64(m), vector / float64(m)
}

// TestCalibrateUselessVectors: with vectors that carry no meaning, the
// calibrated default leans on BM25 and is as good as BM25 alone on queries
// it never saw; the choice is the same for the same seed, survives a
// restart, shows in the search response, and explicit fusion overrides it.
func TestCalibrateUselessVectors(t *testing.T) {
	dir := t.TempDir()
	ix := openTest(t, dir, Config{})
	c := mustCreate(t, ix, CollectionConfig{Name: "h", Dimension: 32, Metric: Cosine, Shards: 2})
	docs := topicCorpus(1, 600)
	emb := randomEmbed(32)
	embedDocs(t, c, docs, emb)

	def0, bm250, _ := heldOut(t, c, docs, emb, 150)
	f, err := c.Calibrate(ctx, emb, CalibrationConfig{Queries: 200})
	require.NoError(t, err)
	t.Logf("calibrated: %+v", *f)
	require.Equal(t, FusionDBSF, f.Fusion)
	require.LessOrEqual(t, f.Alpha, 0.15, "random vectors should get little weight")
	require.Equal(t, 200, f.Queries)
	require.Equal(t, 600, f.Documents)
	require.Greater(t, f.TextNDCG10, f.VectorNDCG10)

	def, bm25, vector := heldOut(t, c, docs, emb, 150)
	t.Logf("held-out MRR@10: default %.4f (before calibration %.4f), BM25 %.4f (%.4f), vector %.4f", def, def0, bm25, bm250, vector)
	require.GreaterOrEqual(t, def, bm25-0.01, "the calibrated default must not lose to BM25")
	require.Greater(t, def, def0, "calibration must improve on the uncalibrated default (relative, alpha 0.5)")

	// The same seed gives the same choice.
	g, err := c.Calibrate(ctx, emb, CalibrationConfig{Queries: 200})
	require.NoError(t, err)
	require.Equal(t, f.Alpha, g.Alpha)
	require.Equal(t, f.NDCG10, g.NDCG10)
	require.Equal(t, f.Queries, g.Queries)

	// The response says which fusion ran; explicit settings override.
	q := docs[0].Text[:40]
	vs, _ := emb(ctx, []string{q})
	res, err := c.Search(ctx, SearchRequest{Text: q, Vector: vs[0]})
	require.NoError(t, err)
	require.Equal(t, FusionDBSF, res.Fusion)
	require.Equal(t, g.Alpha, res.Alpha)
	require.True(t, res.Calibrated)
	half := 0.5
	res, err = c.Search(ctx, SearchRequest{Text: q, Vector: vs[0], Alpha: &half})
	require.NoError(t, err)
	require.Equal(t, FusionRelative, res.Fusion)
	require.Equal(t, 0.5, res.Alpha)
	require.False(t, res.Calibrated)
	res, err = c.Search(ctx, SearchRequest{Text: q, Vector: vs[0], Fusion: FusionRRF})
	require.NoError(t, err)
	require.Equal(t, FusionRRF, res.Fusion)
	require.False(t, res.Calibrated)
	res, err = c.Search(ctx, SearchRequest{Text: q, Mode: ModeText})
	require.NoError(t, err)
	require.Empty(t, res.Fusion, "one leg: no fusion")

	// The catalog keeps the choice across a restart.
	require.NoError(t, ix.Close())
	ix2 := openTest(t, dir, Config{})
	c2, err := ix2.Collection("h")
	require.NoError(t, err)
	got := c2.Config().Fusion
	require.NotNil(t, got)
	require.Equal(t, g.Alpha, got.Alpha)
	require.Equal(t, g.Fusion, got.Fusion)
	require.True(t, g.CalibratedAt.Equal(got.CalibratedAt))
	require.Equal(t, got.Alpha, ix2.Collections()[0].Fusion.Alpha)
}

// TestCalibrateErrors: what cannot be calibrated says why.
func TestCalibrateErrors(t *testing.T) {
	ix := openTest(t, "", Config{})
	txt := mustCreate(t, ix, CollectionConfig{Name: "t"})
	_, err := txt.Calibrate(ctx, randomEmbed(8), CalibrationConfig{})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorContains(t, err, "no vectors")

	c := mustCreate(t, ix, CollectionConfig{Name: "v", Dimension: 8})
	_, err = c.Calibrate(ctx, nil, CalibrationConfig{})
	require.ErrorIs(t, err, ErrInvalidArgument)
	embedDocs(t, c, topicCorpus(2, 20), randomEmbed(8))
	_, err = c.Calibrate(ctx, randomEmbed(8), CalibrationConfig{})
	require.ErrorIs(t, err, ErrTooFewDocuments)
	embedDocs(t, c, topicCorpus(3, 100)[20:], randomEmbed(8))
	_, err = c.Calibrate(ctx, randomEmbed(4), CalibrationConfig{})
	require.ErrorContains(t, err, "dimension 4")
	_, err = c.Calibrate(ctx, func(context.Context, []string) ([][]float32, error) { return nil, fmt.Errorf("boom") }, CalibrationConfig{})
	require.ErrorContains(t, err, "boom")
	_, err = c.Calibrate(ctx, randomEmbed(8), CalibrationConfig{Depth: 5})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Nil(t, c.Config().Fusion, "a failed calibration changes nothing")

	_, err = ix.CreateCollection(ctx, CollectionConfig{Name: "x", Dimension: 4, Fusion: &FusionDefault{Fusion: "max"}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = ix.CreateCollection(ctx, CollectionConfig{Name: "x", Dimension: 4, Fusion: &FusionDefault{Fusion: FusionDBSF, Alpha: 2}})
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestSentences(t *testing.T) {
	text := "# Title\nFirst sentence here. Second one? Yes!\n\n- a list item\n- another item\nA wrapped line of prose that goes on and on and on,\ncontinues here. Done 3.5 times."
	var got []string
	for _, sp := range sentences(text) {
		got = append(got, strings.TrimSpace(text[sp[0]:sp[1]]))
	}
	require.Equal(t, []string{"# Title", "First sentence here.", "Second one?", "Yes!", "- a list item", "- another item",
		"A wrapped line of prose that goes on and on and on,\ncontinues here.", "Done 3.5 times."}, got)
}

// fioriRecords reads the shared MiniLM embeddings of the SAP Fiori
// documentation, or skips the test.
func fioriRecords(t *testing.T) ([]string, [][]float32) {
	dir := "/work/shared/data/embeddings/minilm-fiori"
	raw, err := os.ReadFile(filepath.Join(dir, "embeddings.bin"))
	if err != nil {
		t.Skipf("shared MiniLM embeddings not here: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, "records.jsonl.gz"))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 4<<20)
	var texts []string
	for sc.Scan() {
		var r struct {
			Content string `json:"content"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		texts = append(texts, r.Content)
	}
	require.NoError(t, sc.Err())
	const dim = 384
	require.Equal(t, len(texts)*dim*4, len(raw))
	vecs := make([][]float32, len(texts))
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range dim {
			vecs[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[(i*dim+j)*4:]))
		}
	}
	return texts, vecs
}

// TestCalibrateStrongVectors: with real MiniLM vectors of the Fiori
// documentation and an embedder that knows which document a text comes
// from (the MiniLM vector of the document that shares most of its words,
// plus noise: a strong dense leg), the calibrated default leans on the
// vector leg and is as good as it on queries the calibration never saw.
func TestCalibrateStrongVectors(t *testing.T) {
	texts, vecs := fioriRecords(t)
	words := make([]map[string]bool, len(texts))
	for i, tx := range texts {
		words[i] = map[string]bool{}
		for _, w := range strings.Fields(strings.ToLower(tx)) {
			words[i][w] = true
		}
	}
	emb := func(_ context.Context, in []string) ([][]float32, error) {
		out := make([][]float32, len(in))
		for i, tx := range in {
			best, bestN := 0, -1
			ws := strings.Fields(strings.ToLower(tx))
			for j := range texts {
				n := 0
				for _, w := range ws {
					if words[j][w] {
						n++
					}
				}
				if n > bestN {
					best, bestN = j, n
				}
			}
			h := fnv.New64a()
			h.Write([]byte(tx))
			rng := rand.New(rand.NewPCG(h.Sum64(), 2))
			v := make([]float32, len(vecs[best]))
			for j := range v {
				v[j] = vecs[best][j] + float32(0.03*rng.NormFloat64())
			}
			out[i] = v
		}
		return out, nil
	}
	ix := openTest(t, "", Config{})
	c := mustCreate(t, ix, CollectionConfig{Name: "fiori", Dimension: 384, Metric: Cosine})
	docs := make([]Document, len(texts))
	for i, tx := range texts {
		docs[i] = Document{ID: fmt.Sprintf("f%04d", i), Text: tx, Vector: vecs[i]}
	}
	for lo := 0; lo < len(docs); lo += 200 {
		_, err := c.Upsert(ctx, docs[lo:min(lo+200, len(docs))])
		require.NoError(t, err)
	}
	f, err := c.Calibrate(ctx, emb, CalibrationConfig{Queries: 150})
	require.NoError(t, err)
	t.Logf("calibrated: %+v", *f)
	require.Greater(t, f.VectorNDCG10, f.TextNDCG10)
	require.GreaterOrEqual(t, f.Alpha, 0.5)
	def, bm25, vector := heldOut(t, c, docs, emb, 100)
	t.Logf("held-out MRR@10: default %.4f, BM25 %.4f, vector %.4f", def, bm25, vector)
	require.GreaterOrEqual(t, def, vector-0.01, "the calibrated default must not lose to the vector leg")
}
