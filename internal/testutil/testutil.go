// Package testutil holds helpers shared by ragd's tests: seeded data
// generators and an exact nearest-neighbour oracle written independently of
// the code under test (plain float64 loops, no simd).
package testutil

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Metric names the distances the oracle knows. They match hnsw's metrics:
// "l2" is squared Euclidean, "cosine" is 1 − cosine similarity, "dot" is the
// negated inner product.
type Metric string

// Clustered returns n vectors of length dim drawn around `clusters` Gaussian
// centres (closer to real embeddings than uniform noise, and harder for a
// graph index), as one slab of n·dim floats.
func Clustered(rng *rand.Rand, n, dim, clusters int) []float32 {
	centres := make([]float64, clusters*dim)
	for i := range centres {
		centres[i] = rng.NormFloat64()
	}
	out := make([]float32, n*dim)
	for i := range n {
		c := rng.IntN(clusters)
		for j := range dim {
			out[i*dim+j] = float32(centres[c*dim+j] + 0.5*rng.NormFloat64())
		}
	}
	return out
}

// Distance computes the metric in float64.
func Distance(m Metric, a, b []float32) float64 {
	switch m {
	case "l2":
		var s float64
		for i := range a {
			d := float64(a[i]) - float64(b[i])
			s += d * d
		}
		return s
	case "cosine":
		var dot, na, nb float64
		for i := range a {
			dot += float64(a[i]) * float64(b[i])
			na += float64(a[i]) * float64(a[i])
			nb += float64(b[i]) * float64(b[i])
		}
		if na == 0 || nb == 0 {
			return 1
		}
		return 1 - dot/math.Sqrt(na*nb)
	case "dot":
		var dot float64
		for i := range a {
			dot += float64(a[i]) * float64(b[i])
		}
		return -dot
	}
	panic("testutil: unknown metric " + string(m))
}

// Neighbor is an oracle result.
type Neighbor struct {
	Key  uint32
	Dist float64
}

// BruteForce returns the k nearest of the vectors in data (row i has key
// keys[i], or i when keys is nil) to q, for which keep returns true (nil
// keeps all), nearest first, ties by lower key.
func BruteForce(m Metric, data []float32, dim int, keys []uint32, q []float32, k int, keep func(key uint32) bool) []Neighbor {
	n := len(data) / dim
	all := make([]Neighbor, 0, n)
	for i := range n {
		key := uint32(i)
		if keys != nil {
			key = keys[i]
		}
		if keep != nil && !keep(key) {
			continue
		}
		all = append(all, Neighbor{key, Distance(m, q, data[i*dim:(i+1)*dim])})
	}
	slices.SortFunc(all, func(a, b Neighbor) int {
		switch {
		case a.Dist < b.Dist:
			return -1
		case a.Dist > b.Dist:
			return 1
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	if len(all) > k {
		all = all[:k]
	}
	return all
}

// Recall is |got ∩ want| / |want|.
func Recall(got []uint32, want []Neighbor) float64 {
	if len(want) == 0 {
		return 1
	}
	set := make(map[uint32]bool, len(want))
	for _, w := range want {
		set[w.Key] = true
	}
	hit := 0
	for _, g := range got {
		if set[g] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}
