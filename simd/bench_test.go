package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/viterin/vek/vek32"
)

// Benchmarks: one b.Run per kernel set (plus vek's AVX2 kernels where it has
// the same function) and per dimension. Compare with benchstat, e.g.
//
//	go test ./simd -run '^$' -bench . -count 6 | tee new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest new.txt
//
// Results on the development machine are in README.md.

var benchDims = []int{100, 128, 384, 784, 1536}

// benchRows is the number of rows of the block benchmarks: 32 rows of 1536
// floats (192 KiB) still sit in L2.
const benchRows = 32

// report reports GFLOP/s given the floating-point operations of one op.
func report(b *testing.B, flops float64) {
	b.Helper()
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// sink keeps the compiler from discarding results.
var (
	sinkF float32
	sinkI int32
	sinkN int
)

// vek panics on empty input and has no squared L2; these wrappers give it
// ragd's contract where it can.
func vekDot(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	return vek32.Dot(a, b)
}

func vekCosine(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	return vek32.CosineSimilarity(a, b)
}

// vekDistance is vek's Euclidean distance (with a square root): the
// nearest thing it has to L2Squared.
func vekDistance(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	return vek32.Distance(a, b)
}

type floatBench struct {
	label string
	fn    func(a, b []float32) float32
}

func benchFloat(b *testing.B, flops float64, fns []floatBench) {
	for _, f := range fns {
		b.Run(f.label, func(b *testing.B) {
			for _, dim := range benchDims {
				b.Run(fmt.Sprint(dim), func(b *testing.B) {
					r := newRand(uint64(dim))
					x, y := randFloats(r, dim, 0), randFloats(r, dim, 0)
					b.SetBytes(int64(8 * dim))
					b.ReportAllocs()
					var s float32
					for b.Loop() {
						s += f.fn(x, y)
					}
					sinkF = s
					report(b, flops*float64(dim))
				})
			}
		})
	}
}

func setsFloat(pick func(kernelSet) func(a, b []float32) float32) []floatBench {
	var fs []floatBench
	for _, ns := range kernelSets() {
		fs = append(fs, floatBench{ns.label, pick(ns.set)})
	}
	return fs
}

func BenchmarkDot(b *testing.B) {
	fs := setsFloat(func(s kernelSet) func(a, b []float32) float32 { return s.dot })
	benchFloat(b, 2, append(fs, floatBench{"vek", vekDot}))
}

func BenchmarkL2Squared(b *testing.B) {
	fs := setsFloat(func(s kernelSet) func(a, b []float32) float32 { return s.l2Squared })
	benchFloat(b, 3, append(fs, floatBench{"vek-distance", vekDistance}))
}

func BenchmarkCosine(b *testing.B) {
	fs := setsFloat(func(s kernelSet) func(a, b []float32) float32 { return s.cosine })
	benchFloat(b, 6, append(fs, floatBench{"vek", vekCosine}))
}

// BenchmarkL2SquaredBounded measures the early exit: the bound is half the
// full distance, so the kernel may stop about half way; "full" is a bound
// that is never exceeded.
func BenchmarkL2SquaredBounded(b *testing.B) {
	for _, ns := range kernelSets() {
		for _, frac := range []struct {
			name string
			f    float32
		}{{"half", 0.5}, {"full", 2}} {
			b.Run(ns.label+"/"+frac.name, func(b *testing.B) {
				for _, dim := range benchDims {
					b.Run(fmt.Sprint(dim), func(b *testing.B) {
						r := newRand(uint64(dim))
						x, y := randFloats(r, dim, 0), randFloats(r, dim, 0)
						bound := frac.f * l2SquaredGeneric(x, y)
						b.SetBytes(int64(8 * dim))
						b.ReportAllocs()
						var s float32
						for b.Loop() {
							s += ns.set.l2SquaredBounded(x, y, bound)
						}
						sinkF = s
						report(b, 3*float64(dim))
					})
				}
			})
		}
	}
}

func BenchmarkDotInt8(b *testing.B) {
	benchInt8(b, 2, func(s kernelSet) func(a, b []int8) int32 { return s.dotInt8 })
}

func BenchmarkL2SquaredInt8(b *testing.B) {
	benchInt8(b, 3, func(s kernelSet) func(a, b []int8) int32 { return s.l2Int8 })
}

func benchInt8(b *testing.B, ops float64, pick func(kernelSet) func(a, b []int8) int32) {
	for _, ns := range kernelSets() {
		fn := pick(ns.set)
		b.Run(ns.label, func(b *testing.B) {
			for _, dim := range benchDims {
				b.Run(fmt.Sprint(dim), func(b *testing.B) {
					r := newRand(uint64(dim))
					x, y := randInt8s(r, dim, 0), randInt8s(r, dim, 0)
					b.SetBytes(int64(2 * dim))
					b.ReportAllocs()
					var s int32
					for b.Loop() {
						s += fn(x, y)
					}
					sinkI = s
					report(b, ops*float64(dim)) // integer ops, reported as GFLOP/s
				})
			}
		})
	}
}

// BenchmarkHamming runs over binary codes of dim bits (dim/64 words,
// rounded up).
func BenchmarkHamming(b *testing.B) {
	for _, ns := range kernelSets() {
		b.Run(ns.label, func(b *testing.B) {
			for _, dim := range benchDims {
				b.Run(fmt.Sprint(dim), func(b *testing.B) {
					words := (dim + 63) / 64
					r := newRand(uint64(dim))
					x, y := randWords(r, words, 0), randWords(r, words, 0)
					b.SetBytes(int64(16 * words))
					b.ReportAllocs()
					var s int
					for b.Loop() {
						s += ns.set.hamming(x, y)
					}
					sinkN = s
				})
			}
		})
	}
}

type blockFn struct {
	name  string
	flops float64
	pick  func(kernelSet) func(q, block, out []float32)
}

// BenchmarkBlock runs the block kernels over benchRows rows; "loop" is the
// single-vector kernel called once per row, for comparison.
func BenchmarkBlock(b *testing.B) {
	fns := []blockFn{
		{"Dot", 2, func(s kernelSet) func(q, block, out []float32) { return s.dotBlock }},
		{"L2Squared", 3, func(s kernelSet) func(q, block, out []float32) { return s.l2SquaredBlock }},
		{"Cosine", 4, func(s kernelSet) func(q, block, out []float32) { return s.cosineBlock }},
		{"Dot-loop", 2, func(s kernelSet) func(q, block, out []float32) { return loopOf(s.dot) }},
		{"L2Squared-loop", 3, func(s kernelSet) func(q, block, out []float32) { return loopOf(s.l2Squared) }},
	}
	for _, f := range fns {
		for _, ns := range kernelSets() {
			fn := f.pick(ns.set)
			b.Run(f.name+"/"+ns.label, func(b *testing.B) {
				for _, dim := range benchDims {
					b.Run(fmt.Sprint(dim), func(b *testing.B) {
						r := newRand(uint64(dim))
						q, block := randFloats(r, dim, 0), randFloats(r, dim*benchRows, 0)
						out := make([]float32, benchRows)
						b.SetBytes(int64(4 * dim * benchRows))
						b.ReportAllocs()
						for b.Loop() {
							fn(q, block, out)
						}
						report(b, f.flops*float64(dim*benchRows))
					})
				}
			})
		}
	}
}

func loopOf(single func(a, b []float32) float32) func(q, block, out []float32) {
	return func(q, block, out []float32) {
		for i := range out {
			out[i] = single(q, block[i*len(q):(i+1)*len(q)])
		}
	}
}

type intBlockFn struct {
	name string
	pick func(kernelSet) func(q, block []int8, out []float32)
}

func BenchmarkInt8Block(b *testing.B) {
	fns := []intBlockFn{
		{"DotInt8", func(s kernelSet) func(q, block []int8, out []float32) { return s.dotInt8Block }},
		{"L2SquaredInt8", func(s kernelSet) func(q, block []int8, out []float32) { return s.l2Int8Block }},
	}
	for _, f := range fns {
		for _, ns := range kernelSets() {
			fn := f.pick(ns.set)
			b.Run(f.name+"/"+ns.label, func(b *testing.B) {
				for _, dim := range benchDims {
					b.Run(fmt.Sprint(dim), func(b *testing.B) {
						r := newRand(uint64(dim))
						q, block := randInt8s(r, dim, 0), randInt8s(r, dim*benchRows, 0)
						out := make([]float32, benchRows)
						b.SetBytes(int64(dim * benchRows))
						b.ReportAllocs()
						for b.Loop() {
							fn(q, block, out)
						}
					})
				}
			})
		}
	}
}

func BenchmarkHammingBlock(b *testing.B) {
	for _, ns := range kernelSets() {
		b.Run(ns.label, func(b *testing.B) {
			for _, dim := range benchDims {
				b.Run(fmt.Sprint(dim), func(b *testing.B) {
					words := (dim + 63) / 64
					r := newRand(uint64(dim))
					q, block := randWords(r, words, 0), randWords(r, words*benchRows, 0)
					out := make([]float32, benchRows)
					b.SetBytes(int64(8 * words * benchRows))
					b.ReportAllocs()
					for b.Loop() {
						ns.set.hammingBlock(q, block, out)
					}
				})
			}
		})
	}
}

// BenchmarkExported measures the exported entry points (dispatch included)
// at 784 floats, the size the speed goals are set for.
func BenchmarkExported(b *testing.B) {
	r := newRand(784)
	x, y := randFloats(r, 784, 0), randFloats(r, 784, 0)
	b.Run("Dot/784", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(8 * 784)
		var s float32
		for b.Loop() {
			s += Dot(x, y)
		}
		sinkF = s
		report(b, 2*784)
	})
	b.Run("L2Squared/784", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(8 * 784)
		var s float32
		for b.Loop() {
			s += L2Squared(x, y)
		}
		sinkF = s
		report(b, 3*784)
	})
}

// batchDims are the vector lengths of the local embedding model's dense
// layers (embed/local); batchQueries is the token count of its benchmark
// passage and batchRows a block of weight rows as it walks them.
var batchDims = []int{256, 512, 1536}

const (
	batchQueries = 75
	batchRows    = 32
)

// alignedFloats returns n values in [-1, 1) starting off floats after a
// 64-byte boundary.
func alignedFloats(r *rand.Rand, n, off int) []float32 {
	s := randFloats(r, n+off+15, 0)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(s))) % 64 / 4)
	return s[skip+off : skip+off+n]
}

// BenchmarkDotBlockBatch runs batchQueries queries against batchRows rows,
// all starting on 64-byte boundaries: "batch" is DotBlockBatch,
// "batch-unaligned" the same one float off the boundaries (as a matrix
// decoded into an arbitrary slice would be), "dotblock" one DotBlock per
// query, the way the local model computed its layers before DotBlockBatch.
func BenchmarkDotBlockBatch(b *testing.B) {
	for _, ns := range kernelSets() {
		for _, way := range []string{"batch", "batch-unaligned", "dotblock"} {
			b.Run(way+"/"+ns.label, func(b *testing.B) {
				for _, dim := range batchDims {
					b.Run(fmt.Sprint(dim), func(b *testing.B) {
						r := newRand(uint64(dim))
						off := 0
						if way == "batch-unaligned" {
							off = 1
						}
						qs := alignedFloats(r, dim*batchQueries, off)
						block := alignedFloats(r, dim*batchRows, off)
						out := make([]float32, batchQueries*batchRows)
						b.SetBytes(int64(4 * dim * (batchQueries + batchRows)))
						b.ReportAllocs()
						for b.Loop() {
							if way == "dotblock" {
								for i := range batchQueries {
									ns.set.dotBlock(qs[i*dim:(i+1)*dim], block, out[i*batchRows:(i+1)*batchRows])
								}
								continue
							}
							ns.set.dotBlockBatch(qs, block, dim, out, batchRows)
						}
						report(b, 2*float64(dim*batchQueries*batchRows))
					})
				}
			})
		}
	}
}
