package server

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragd/ragd/index"
)

// sentenceDocs returns n documents of a few sentences each, for
// calibration.
func sentenceDocs(n int) []map[string]any {
	words := []string{"river", "forest", "winter", "meadow", "stone", "harbor", "cliff", "garden", "valley", "bridge"}
	docs := make([]map[string]any, n)
	for i := range docs {
		a, b := words[i%len(words)], words[(i/len(words))%len(words)]
		docs[i] = map[string]any{"id": fmt.Sprintf("d%d", i), "text": fmt.Sprintf(
			"Entry %d is about the %s and the %s. The %s was quiet in the morning light today. "+
				"Later the %s changed with the weather of the season. Nobody walked near the %s for %d days.", i, a, b, a, b, a, i)}
	}
	return docs
}

// TestCalibrateEndpoint: POST :calibrate chooses the fusion, the
// collection shows it, hybrid searches say they used it, and explicit
// settings override it; what cannot be calibrated gets a clear error.
func TestCalibrateEndpoint(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.CalibrateInterval = -1 })
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "c"})
	ts.ok(t, "POST", "/v1/collections/c/documents", map[string]any{"documents": sentenceDocs(40)})
	code, m := ts.doJSON(t, "POST", "/v1/collections/c:calibrate", nil)
	require.Equal(t, 400, code, "%v", m)
	require.Contains(t, m["message"], "too few documents")

	ts.ok(t, "POST", "/v1/collections/c/documents", map[string]any{"documents": sentenceDocs(120)})
	m = ts.ok(t, "GET", "/v1/collections/c", nil)
	require.Nil(t, m["fusion"], "not calibrated yet")
	res := ts.ok(t, "POST", "/v1/collections/c/search", map[string]any{"query": "the winter garden"})
	require.Equal(t, map[string]any{"method": "relative", "alpha": 0.5, "calibrated": false}, res["fusion"])

	m = ts.ok(t, "POST", "/v1/collections/c:calibrate", nil)
	f := m["fusion"].(map[string]any)
	require.Equal(t, "dbsf", f["method"])
	require.EqualValues(t, 120, f["documents"])
	require.Positive(t, f["queries"])
	require.NotEmpty(t, f["calibrated_at"])
	require.Equal(t, f, ts.ok(t, "GET", "/v1/collections/c", nil)["fusion"])

	res = ts.ok(t, "POST", "/v1/collections/c/search", map[string]any{"query": "the winter garden"})
	require.Equal(t, map[string]any{"method": "dbsf", "alpha": f["alpha"], "calibrated": true}, res["fusion"])
	res = ts.ok(t, "POST", "/v1/collections/c/search", map[string]any{"query": "the winter garden", "fusion": "rrf"})
	require.Equal(t, map[string]any{"method": "rrf", "alpha": 0.0, "calibrated": false}, res["fusion"])
	res = ts.ok(t, "POST", "/v1/collections/c/search", map[string]any{"query": "the winter garden", "mode": "text"})
	require.Nil(t, res["fusion"])

	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "t", "embedder": map[string]any{"provider": "none"}})
	code, m = ts.doJSON(t, "POST", "/v1/collections/t:calibrate", nil)
	require.Equal(t, 400, code)
	require.Contains(t, m["message"], "no vectors")
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "own", "dimension": 4, "embedder": map[string]any{"provider": "none"}})
	code, m = ts.doJSON(t, "POST", "/v1/collections/own:calibrate", nil)
	require.Equal(t, 400, code)
	require.Contains(t, m["message"], "no embedder")
	code, _ = ts.doJSON(t, "POST", "/v1/collections/nope:calibrate", nil)
	require.Equal(t, 404, code)
}

// TestBackgroundCalibration: the server calibrates a collection once it
// has enough documents, and again when it has doubled.
func TestBackgroundCalibration(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.CalibrateInterval = 50 * time.Millisecond })
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "c"})
	ts.ok(t, "POST", "/v1/collections/c/documents", map[string]any{"documents": sentenceDocs(60)})
	calibratedWith := func() float64 {
		f, _ := ts.ok(t, "GET", "/v1/collections/c", nil)["fusion"].(map[string]any)
		if f == nil {
			return 0
		}
		return f["documents"].(float64)
	}
	require.Eventually(t, func() bool { return calibratedWith() == 60 }, 20*time.Second, 20*time.Millisecond)
	ts.ok(t, "POST", "/v1/collections/c/documents", map[string]any{"documents": sentenceDocs(130)})
	require.Eventually(t, func() bool { return calibratedWith() == 130 }, 20*time.Second, 20*time.Millisecond)
}

func TestNeedsCalibration(t *testing.T) {
	cc := index.CollectionConfig{Dimension: 8, Embedder: index.EmbedderConfig{Provider: "hash"}}
	require.False(t, needsCalibration(cc, index.MinCalibrationDocs-1))
	require.True(t, needsCalibration(cc, index.MinCalibrationDocs))
	cc.Fusion = &index.FusionDefault{Fusion: index.FusionDBSF, Documents: 100, CalibratedAt: time.Now()}
	require.False(t, needsCalibration(cc, 150))
	require.True(t, needsCalibration(cc, 200))
	require.True(t, needsCalibration(cc, 50))
	require.False(t, needsCalibration(index.CollectionConfig{Dimension: 8, Embedder: index.EmbedderConfig{Provider: "none"}}, 500))
	require.False(t, needsCalibration(index.CollectionConfig{}, 500))
}

// TestCalibrateHashEmbedder: with the hashing embedder (BM25's evidence
// without its weights) the calibrated default is as good as BM25 alone on
// queries the calibration never saw.
func TestCalibrateHashEmbedder(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.CalibrateInterval = -1 })
	ts.ok(t, "POST", "/v1/collections", map[string]any{"name": "h", "embedder": map[string]any{"provider": "hash", "dimensions": 256}})
	rng := rand.New(rand.NewPCG(7, 7))
	type doc struct{ id, text string }
	var docs []doc
	for i := range 500 {
		topic := rng.IntN(25)
		var b strings.Builder
		for range 4 + rng.IntN(4) {
			for w := range 6 + rng.IntN(10) {
				if w > 0 {
					b.WriteByte(' ')
				}
				if rng.Float64() < 0.35 {
					fmt.Fprintf(&b, "t%dx%d", topic, rng.IntN(40))
				} else {
					fmt.Fprintf(&b, "w%d", int(math.Pow(rng.Float64(), 3)*300))
				}
			}
			b.WriteString(". ")
		}
		docs = append(docs, doc{fmt.Sprintf("d%d", i), strings.TrimSpace(b.String())})
	}
	for lo := 0; lo < len(docs); lo += 250 {
		var batch []map[string]any
		for _, d := range docs[lo : lo+250] {
			batch = append(batch, map[string]any{"id": d.id, "text": d.text})
		}
		ts.ok(t, "POST", "/v1/collections/h/documents", map[string]any{"documents": batch})
	}
	f := ts.ok(t, "POST", "/v1/collections/h:calibrate", nil)["fusion"].(map[string]any)
	t.Logf("calibrated: %v", f)
	// Held out: the second sentence of each of 150 documents, with its
	// document as the answer. (Known weakness, bench/results/fusion.md:
	// with shorter queries — every other word of that sentence — the
	// default here loses 0.035 MRR to BM25: on this synthetic corpus the
	// calibration weighs the hashing leg 0.75, because for a sentence
	// taken out of its document the topic words spread over the rest of
	// it, which the hashed bag of words sums up, find it better than
	// BM25 does.)
	mrr := func(body map[string]any) float64 {
		sum := 0.0
		for _, d := range docs[:150] {
			body["query"] = strings.TrimSpace(strings.SplitAfter(d.text, ". ")[1])
			for i, id := range ids(t, ts.ok(t, "POST", "/v1/collections/h/search", body)) {
				if id == d.id {
					sum += 1 / float64(i+1)
					break
				}
			}
		}
		return sum / 150
	}
	def, bm25 := mrr(map[string]any{}), mrr(map[string]any{"mode": "text"})
	vec, half := mrr(map[string]any{"mode": "vector"}), mrr(map[string]any{"fusion": "relative", "alpha": 0.5})
	t.Logf("held-out MRR@10: default %.4f, BM25 %.4f, vector %.4f, relative 0.5 %.4f", def, bm25, vec, half)
	// Both legs find nearly every answer to a whole sentence here, so
	// this bounds only a gross mistake; the check that tells a good
	// choice from a bad one is TestDefaultFusionHashCranfield in ragctl.
	require.GreaterOrEqual(t, def, bm25-0.01)
	require.GreaterOrEqual(t, def, vec-0.01)
}
