// Package synth makes the synthetic documents of the benchmarks
// (bench/indexbench, bench/serverbench): random unit vectors and Zipfian
// text over a vocabulary of pronounceable words, so that the benches of
// the index and of the server measure the same collection.
package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/ragd/ragd/index"
)

// Vocabulary is 19,740 pronounceable words: every consonant-vowel
// syllable and every pair of them. Texts draw from it with Zipf's law
// (s = 1.1), as natural language does, so that postings lists have
// realistic lengths: a few words in most documents, most words in few.
var Vocabulary = func() []string {
	cons := []string{"b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "ch"}
	vows := []string{"a", "e", "i", "o", "u", "ai", "ou"}
	var out []string
	for _, c1 := range cons {
		for _, v1 := range vows {
			out = append(out, c1+v1)
			for _, c2 := range cons {
				for _, v2 := range vows {
					out = append(out, c1+v1+c2+v2)
				}
			}
		}
	}
	return out
}()

// Document returns document i: ID "doc-<i>", a random unit vector of dim
// dimensions (Gaussian: no clusters, the hard case for HNSW), about 500
// characters of Zipfian text and three metadata fields (bucket 0–99,
// color of three, year 2000–2024). The same i always gives the same
// document.
func Document(i, dim int) index.Document {
	rng := rand.New(rand.NewPCG(uint64(i), 99))
	v := make([]float32, dim)
	var ss float64
	for j := range v {
		x := rng.NormFloat64()
		v[j] = float32(x)
		ss += x * x
	}
	inv := float32(1 / math.Sqrt(ss))
	for j := range v {
		v[j] *= inv
	}
	zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(Vocabulary)-1))
	var b strings.Builder
	for b.Len() < 500 {
		b.WriteString(Vocabulary[zipf.Uint64()])
		b.WriteByte(' ')
	}
	return index.Document{
		ID:     "doc-" + strconv.Itoa(i),
		Text:   b.String(),
		Vector: v,
		Metadata: map[string]any{
			"bucket": i % 100,
			"color":  []string{"red", "green", "blue"}[i%3],
			"year":   2000 + i%25,
		},
	}
}
