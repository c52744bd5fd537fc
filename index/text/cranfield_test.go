package text

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ragd/ragd/internal/beir"
	"github.com/stretchr/testify/require"
)

// cranfieldDir is the shared Cranfield collection in BEIR layout:
// $RAGD_SHARED/data/ir/cranfield, by default ../shared next to the
// repository root. The test skips when it is absent.
func cranfieldDir(t testing.TB) string {
	t.Helper()
	shared := os.Getenv("RAGD_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "..", "..", "shared")
	}
	dir := filepath.Join(shared, "data", "ir", "cranfield")
	if _, err := os.Stat(filepath.Join(dir, beir.CorpusFile)); err != nil {
		t.Skipf("Cranfield not present: %v", err)
	}
	return dir
}

// TestCranfield indexes Cranfield (title + " " + text, as Anserini's BEIR
// "flat" convention and tools/ir/LuceneBM25.java do), runs every judged
// query for its top 100 and scores the run with trec_eval's definitions.
// Lucene 8.7 BM25 (k1 1.2, b 0.75) scores nDCG@10 0.368 on it. With
// RAGD_TREC_RUN=path the run is also written as a TREC file, for
// tools/ir/ireval.py.
func TestCranfield(t *testing.T) {
	ds, err := beir.Load(cranfieldDir(t))
	require.NoError(t, err)
	ix := openT(t, Config{})

	ids := make([]string, len(ds.Corpus)) // by document number
	docs := make([]Doc, len(ds.Corpus))
	for i, d := range ds.Corpus {
		ids[i] = d.ID
		docs[i] = Doc{Num: uint32(i), Text: d.Title + " " + d.Text}
	}
	start := time.Now()
	const batch = 500
	for i := 0; i < len(docs); i += batch {
		require.NoError(t, ix.Apply(1, docs[i:min(i+batch, len(docs))], nil))
	}
	indexDur := time.Since(start)

	queries := ds.JudgedQueries()
	run := beir.Run{}
	start = time.Now()
	for _, q := range queries {
		terms := ix.Terms(q.Text)
		st, err := ix.Stats(terms)
		require.NoError(t, err)
		hits, err := ix.Search(terms, st, 100, nil)
		require.NoError(t, err)
		for _, h := range hits {
			run[q.ID] = append(run[q.ID], beir.Scored{ID: ids[h.Num], Score: h.Score})
		}
	}
	queryDur := time.Since(start)

	m := beir.Evaluate(run, ds.Qrels)
	t.Logf("Cranfield: %d docs indexed in %v (%.0f docs/s); %d queries in %v (%.0f µs/query)",
		len(docs), indexDur.Round(time.Millisecond), float64(len(docs))/indexDur.Seconds(),
		len(queries), queryDur.Round(time.Millisecond), float64(queryDur.Microseconds())/float64(len(queries)))
	t.Logf("nDCG@10 %.4f  MAP@100 %.4f  R@100 %.4f  MRR@10 %.4f (judged %d)",
		m.Mean.NDCG10, m.Mean.MAP100, m.Mean.Recall100, m.Mean.MRR10, m.Judged)
	require.Equal(t, len(queries), m.Judged)
	require.GreaterOrEqual(t, m.Mean.NDCG10, 0.365, "nDCG@10 below Lucene's 0.368")

	if path := os.Getenv("RAGD_TREC_RUN"); path != "" {
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, beir.WriteTREC(f, run, "ragd-text-bm25"))
		require.NoError(t, f.Close())
	}
}
