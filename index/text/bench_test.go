package text

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/ragd/ragd/internal/beir"
	"github.com/stretchr/testify/require"
)

// BenchmarkCranfieldQuery runs the 225 Cranfield queries (both phases:
// Terms, Stats, Search for the top 100) against one index.
func BenchmarkCranfieldQuery(b *testing.B) {
	ds, err := beir.Load(cranfieldDir(b))
	require.NoError(b, err)
	ix := openT(b, Config{})
	docs := make([]Doc, len(ds.Corpus))
	for i, d := range ds.Corpus {
		docs[i] = Doc{Num: uint32(i), Text: d.Title + " " + d.Text}
	}
	require.NoError(b, ix.Apply(1, docs, nil))
	qs := ds.JudgedQueries()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := qs[i%len(qs)]
		i++
		terms := ix.Terms(q.Text)
		st, err := ix.Stats(terms)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ix.Search(terms, st, 100, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// synthetic builds n documents of 20–180 words drawn from a Zipf
// distribution over a vocabulary of 50,000 words named w0, w1, … (w0 the
// most frequent).
func synthetic(n int, seed uint64) []Doc {
	rng := rand.New(rand.NewPCG(seed, 2))
	zipf := rand.NewZipf(rng, 1.07, 2, 49_999)
	docs := make([]Doc, n)
	buf := make([]byte, 0, 2048)
	for i := range docs {
		buf = buf[:0]
		for range 20 + rng.IntN(161) {
			buf = append(buf, 'w')
			buf = strconv.AppendUint(buf, zipf.Uint64(), 10)
			buf = append(buf, ' ')
		}
		docs[i] = Doc{Num: uint32(i), Text: string(buf)}
	}
	return docs
}

// BenchmarkSearch100k searches 100,000 synthetic documents (~10M tokens)
// with five-term queries of common, middling and rare words.
func BenchmarkSearch100k(b *testing.B) {
	ix := openDirT(b, filepath.Join(b.TempDir(), "text"), Config{Analyzer: "standard"})
	docs := synthetic(100_000, 1)
	start := time.Now()
	for i := 0; i < len(docs); i += 1000 {
		require.NoError(b, ix.Apply(1, docs[i:i+1000], nil))
	}
	b.Logf("indexed %d docs in %v (%.0f docs/s)", len(docs), time.Since(start).Round(time.Millisecond),
		float64(len(docs))/time.Since(start).Seconds())
	b.Logf("%d segments once bleve's merges settled", settle(b, ix))
	queries := []struct {
		name  string
		ranks []int
	}{
		{"common", []int{0, 1, 2, 3, 4}},
		{"mixed", []int{5, 50, 500, 5000, 20000}},
		{"middling", []int{100, 200, 300, 400, 500}},
		{"rare", []int{10000, 20000, 30000, 40000, 45000}},
	}
	even := numSet{}
	for n := uint32(0); n < 100_000; n += 2 {
		even[n] = true
	}
	for _, q := range queries {
		text := ""
		for _, r := range q.ranks {
			text += fmt.Sprintf("w%d ", r)
		}
		terms := ix.Terms(text)
		st, err := ix.Stats(terms)
		require.NoError(b, err)
		var postings uint64
		for _, n := range st.DF {
			postings += n
		}
		for _, filter := range []struct {
			name  string
			allow Allow
		}{{"all", nil}, {"half", even}} {
			b.Run(q.name+"/"+filter.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					st, err := ix.Stats(terms)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := ix.Search(terms, st, 10, filter.allow); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(postings), "postings")
			})
		}
	}
}

// settle waits until bleve's background merges stop changing the number of
// segments (so that they do not compete with the benchmark for the CPUs)
// and returns that number.
func settle(b *testing.B, ix *Index) int {
	count := func() int {
		r, err := ix.bi.Reader()
		require.NoError(b, err)
		defer r.Close()
		return len(r.(*scorch.IndexSnapshot).Segments())
	}
	last, since := count(), time.Now()
	for time.Since(since) < 2*time.Second {
		time.Sleep(100 * time.Millisecond)
		if n := count(); n != last {
			last, since = n, time.Now()
		}
	}
	return last
}

// BenchmarkApply indexes 20,000 synthetic documents in batches of 1,000
// into a fresh index (throughput in docs/s), then replaces them all.
func BenchmarkApply(b *testing.B) {
	docs := synthetic(20_000, 5)
	for b.Loop() {
		ix, err := Open(filepath.Join(b.TempDir(), "text"), Config{Analyzer: "standard"})
		require.NoError(b, err)
		start := time.Now()
		for i := 0; i < len(docs); i += 1000 {
			require.NoError(b, ix.Apply(1, docs[i:i+1000], nil))
		}
		insert := time.Since(start)
		start = time.Now()
		for i := 0; i < len(docs); i += 1000 {
			require.NoError(b, ix.Apply(2, docs[i:i+1000], nil))
		}
		replace := time.Since(start)
		start = time.Now()
		require.NoError(b, ix.Close())
		b.ReportMetric(time.Since(start).Seconds(), "close-s")
		b.ReportMetric(float64(len(docs))/insert.Seconds(), "insert-docs/s")
		b.ReportMetric(float64(len(docs))/replace.Seconds(), "replace-docs/s")
	}
}

// BenchmarkApplyOne applies one document per batch, as a stream of single
// upserts does.
func BenchmarkApplyOne(b *testing.B) {
	docs := synthetic(1000, 6)
	ix := openDirT(b, filepath.Join(b.TempDir(), "text"), Config{Analyzer: "standard"})
	i := 0
	for b.Loop() {
		d := docs[i%len(docs)]
		i++
		require.NoError(b, ix.Apply(uint64(i), []Doc{d}, nil))
	}
}
