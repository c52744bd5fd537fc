package filter

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	bsi "github.com/RoaringBitmap/roaring/v2/BitSliceIndexing"
)

// The benchmarks run on 1 M documents with five fields, built once per
// process:
//
//	city       string, 100 values (1 % each)
//	price      number, 0.00–9999.99 (about 1 M distinct values)
//	published  RFC 3339 time, distinct per document, over about 3 years
//	tags       list of 3 strings out of 50
//	in_stock   boolean
//
//	go test -run '^$' -bench 'Eval|RangeStructures|BuildBitmap' -benchtime 200x ./index/filter
//	go test -run '^$' -bench 'Build$' -benchtime 1x ./index/filter   (one build is 3 s)

const benchDocs = 1_000_000

var bench struct {
	once sync.Once
	ix   *Index
}

var benchBase = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)

func benchDoc(rng *rand.Rand, i int) []byte {
	t := benchBase.Add(time.Duration(i)*90*time.Second + time.Duration(rng.IntN(90))*time.Second)
	return fmt.Appendf(nil, `{"city": "city-%d", "price": %d.%02d, "published": %q, "tags": ["t%d", "t%d", "t%d"], "in_stock": %t}`,
		rng.IntN(100), rng.IntN(10000), rng.IntN(100), t.Format(time.RFC3339),
		rng.IntN(50), rng.IntN(50), rng.IntN(50), rng.IntN(2) == 0)
}

func buildBenchIndex(tb testing.TB) *Index {
	ix := New()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range benchDocs {
		if err := ix.Add(uint32(i), benchDoc(rng, i)); err != nil {
			tb.Fatal(err)
		}
	}
	return ix
}

func benchIndex(b *testing.B) *Index {
	bench.once.Do(func() { bench.ix = buildBenchIndex(b) })
	return bench.ix
}

func BenchmarkEval(b *testing.B) {
	cases := []struct{ name, filter string }{
		{"equality", `{"must": [{"key": "city", "match": {"value": "city-7"}}]}`},
		{"any-of-10", `{"must": [{"key": "city", "match": {"any": ["city-1", "city-2", "city-3", "city-4", "city-5", "city-6", "city-7", "city-8", "city-9", "city-10"]}}]}`},
		{"range-1%", `{"must": [{"key": "price", "range": {"gte": 0, "lt": 100}}]}`},
		{"range-50%", `{"must": [{"key": "price", "range": {"gte": 0, "lt": 5000}}]}`},
		{"time-range-1%", `{"must": [{"key": "published", "range": {"gte": "2022-01-01T00:00:00Z", "lt": "2022-01-11T10:00:00Z"}}]}`},
		{"exists-false", `{"must": [{"key": "author", "exists": false}]}`},
		{"nested", `{"must": [{"key": "city", "match": {"any": ["city-1", "city-2", "city-3", "city-4", "city-5"]}}, {"key": "price", "range": {"gte": 1000, "lt": 3000}}],
			"should": [{"key": "tags", "match": {"value": "t1"}}, {"must": [{"key": "tags", "match": {"value": "t2"}}, {"key": "published", "range": {"gte": "2023-01-01T00:00:00Z"}}]}],
			"must_not": [{"key": "in_stock", "match": {"value": false}}]}`},
	}
	ix := benchIndex(b)
	u, _ := ix.Eval(nil, nil)
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			f, err := Parse([]byte(tc.filter))
			if err != nil {
				b.Fatal(err)
			}
			var hits uint64
			b.ReportAllocs()
			for b.Loop() {
				r, err := ix.Eval(f, u)
				if err != nil {
					b.Fatal(err)
				}
				hits = r.GetCardinality()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/eval")
			b.ReportMetric(float64(hits), "hits")
		})
	}
}

// BenchmarkBuild builds the 1 M-document index and reports the heap it
// holds per document (after a GC) and the cost of an Add.
func BenchmarkBuild(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		ix := buildBenchIndex(b)
		el := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/benchDocs, "B/doc")
		b.ReportMetric(float64(el.Nanoseconds())/benchDocs, "ns/add")
		runtime.KeepAlive(ix)
	}
}

// BenchmarkRangeStructures compares range indexes over one value per
// document for 1 M documents: the sorted array used here ("sorted"),
// roaring's bit-sliced index ("bsi"), and a scan of a value per document
// ("scan"). Values are distinct prices in cents (20 bits) and times in
// nanoseconds (a BSI over order-preserving 64-bit keys).
func BenchmarkRangeStructures(b *testing.B) {
	const n = benchDocs
	rng := rand.New(rand.NewPCG(5, 6))
	cents := make([]int64, n)
	nanos := make([]int64, n)
	for i := range n {
		cents[i] = int64(rng.IntN(1_000_000))
		nanos[i] = benchBase.Add(time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour)))).UnixNano()
	}
	for _, vs := range []struct {
		name string
		vals []int64
	}{{"price-cents", cents}, {"time-ns", nanos}} {
		sorted := slices.Clone(vs.vals)
		slices.Sort(sorted)
		keyOf := func(v int64) uint64 { return uint64(v) ^ 1<<63 }

		var o ordered
		for i, v := range vs.vals {
			o.add(keyOf(v), uint32(i), 0, 1<<30)
		}
		o.merge()
		var bi *bsi.BSI
		if vs.name == "price-cents" {
			bi = bsi.NewBSI(1_000_000, 0)
		} else {
			bi = bsi.NewDefaultBSI()
		}
		for i, v := range vs.vals {
			bi.SetValue(uint64(i), v)
		}
		bsiBytes := uint64(0)
		bits, _ := bi.MarshalBinary()
		for _, s := range bits {
			bsiBytes += uint64(len(s))
		}
		b.Logf("%s: sorted %.1f B/value, bsi %.1f B/value (serialized), scan 8 B/value",
			vs.name, float64(12*len(o.keys))/n, float64(bsiBytes)/n)

		for _, frac := range []float64{0.01, 0.5} {
			lo, hi := sorted[0], sorted[int(frac*n)]
			want := uint64(0)
			for _, v := range vs.vals {
				if v >= lo && v <= hi {
					want++
				}
			}
			check := func(b *testing.B, r *roaring.Bitmap) {
				if r.GetCardinality() != want {
					b.Fatalf("%d hits, want %d", r.GetCardinality(), want)
				}
			}
			b.Run(fmt.Sprintf("%s/%g%%/sorted", vs.name, 100*frac), func(b *testing.B) {
				for b.Loop() {
					check(b, o.collect(keyOf(lo), keyOf(hi), n-1))
				}
			})
			b.Run(fmt.Sprintf("%s/%g%%/bsi", vs.name, 100*frac), func(b *testing.B) {
				for b.Loop() {
					check(b, bi.CompareValue(0, bsi.RANGE, lo, hi, nil))
				}
			})
			b.Run(fmt.Sprintf("%s/%g%%/scan", vs.name, 100*frac), func(b *testing.B) {
				for b.Loop() {
					r := roaring.New()
					for i, v := range vs.vals {
						if v >= lo && v <= hi {
							r.Add(uint32(i))
						}
					}
					check(b, r)
				}
			})
		}
	}
}

// BenchmarkBuildBitmap times the two ways buildBitmap turns hits (random
// numbers below 1 M) into a bitmap, to place denseRatio: the dense path
// costs about the same from a few hundred hits up, the sorting path grows
// with the hits.
func BenchmarkBuildBitmap(b *testing.B) {
	const maxNum = benchDocs - 1
	words := maxNum/64 + 1
	rng := rand.New(rand.NewPCG(7, 8))
	for _, hits := range []int{words / 256, words / 64, words / 16, words / 4, words} {
		nums := make([]uint32, hits)
		for i := range nums {
			nums[i] = rng.Uint32N(maxNum)
		}
		b.Run(fmt.Sprintf("hits=%d/dense", hits), func(b *testing.B) {
			for b.Loop() {
				denseBitmap(nums, words)
			}
		})
		b.Run(fmt.Sprintf("hits=%d/sort", hits), func(b *testing.B) {
			for b.Loop() {
				sortedBitmap(nums)
			}
		})
	}
}
