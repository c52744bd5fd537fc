package store

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// benchDoc is a typical chunk: a 384-d embedding and ~500 characters.
func benchDoc(rng *rand.Rand, id string) Doc {
	vec := make([]float32, 384)
	for i := range vec {
		vec[i] = rng.Float32()
	}
	return Doc{
		ID:       id,
		Text:     strings.Repeat("retrieval ", 50),
		Metadata: []byte(`{"lang":"en","page":12}`),
		Vector:   vec,
		Source:   "docs/guide.md",
		Chunk:    3,
	}
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	// Real fsyncs: the point of group commit.
	return openAt(b, filepath.Join(b.TempDir(), "bench.db"), Config{})
}

// BenchmarkApplySingle commits one document per Apply from GOMAXPROCS
// goroutines; run with -cpu 1,2,8 to see group commit share fsyncs.
func BenchmarkApplySingle(b *testing.B) {
	s := benchStore(b)
	var next atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(next.Add(1)<<40, 1))
		doc := benchDoc(rng, "")
		ops := []Op{{Kind: OpPut}}
		for pb.Next() {
			doc.ID = fmt.Sprint("d", next.Add(1))
			ops[0].Doc = doc
			if _, err := s.Apply(b.Context(), ops); err != nil {
				b.Error(err)
				return
			}
		}
	})
	st := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(float64(st.Applies)/float64(max(st.Commits, 1)), "applies/commit")
}

// BenchmarkApplyBatch256 commits 256 documents per Apply from one goroutine.
func BenchmarkApplyBatch256(b *testing.B) {
	s := benchStore(b)
	rng := rand.New(rand.NewPCG(1, 2))
	ops := make([]Op, 256)
	for i := range ops {
		ops[i] = Op{Kind: OpPut, Doc: benchDoc(rng, "")}
	}
	b.SetBytes(int64(len(ops) * docSize(&ops[0].Doc)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range ops {
			ops[i].Doc.ID = fmt.Sprint("d", n)
			n++
		}
		if _, err := s.Apply(b.Context(), ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkView100 loads the payloads of 100 search hits by number in one
// read transaction, from a store of 10,000 documents.
func BenchmarkView100(b *testing.B) {
	s := openAt(b, filepath.Join(b.TempDir(), "bench.db"), Config{NoSync: true})
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 10_000
	ops := make([]Op, 0, 1000)
	for i := range n {
		ops = append(ops, Op{Kind: OpPut, Doc: benchDoc(rng, fmt.Sprint("d", i))})
		if len(ops) == cap(ops) {
			if _, err := s.Apply(b.Context(), ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	hits := make([]uint32, 100)
	for i := range hits {
		hits[i] = uint32(1 + rng.IntN(n))
	}
	b.ReportAllocs()
	for b.Loop() {
		err := s.View(func(r *Reader) error {
			for _, num := range hits {
				if _, ok, err := r.GetByNum(num); err != nil || !ok {
					return fmt.Errorf("num %d: %v %v", num, ok, err)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(hits))/b.Elapsed().Seconds(), "docs/s")
}
