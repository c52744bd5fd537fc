package filter

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOrdered drives one range index directly with documents of several
// values each (so that merges fall in the middle of a document), removals
// and re-additions, and compares every range with a model.
func TestOrdered(t *testing.T) {
	cases := []struct {
		name      string
		deltaMin  int
		maxValues int
		keySpace  uint64
		spread    uint32
	}{
		{"merge every pair", 1, 6, 50, 300},
		{"merge rarely", 64, 6, 50, 300},
		{"distinct keys", 2, 3, 1 << 40, 300},
		{"sparse numbers", 3, 4, 100, 1 << 28},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 3))
			o := ordered{coded: true}
			model := map[uint32][]uint64{}
			codes := map[uint32][]uint16{}
			maxNum := uint32(0)
			for step := range 3000 {
				n := rng.Uint32N(tc.spread)
				if keys, ok := model[n]; ok {
					empty := o.remove(n, len(keys), tc.deltaMin)
					require.Equal(t, len(model) == 1, empty)
					delete(model, n)
				} else {
					keys := make([]uint64, 1+rng.IntN(tc.maxValues))
					cs := make([]uint16, len(keys))
					for i := range keys {
						keys[i] = rng.Uint64N(tc.keySpace)
						cs[i] = uint16(rng.IntN(3))
						o.add(keys[i], n, cs[i], tc.deltaMin)
					}
					model[n] = keys
					codes[n] = cs
					maxNum = max(maxNum, n)
				}
				live := 0
				for _, keys := range model {
					live += len(keys)
				}
				require.Equal(t, live, o.live)
				require.True(t, slices.IsSorted(o.keys))
				if step%7 != 0 {
					continue
				}
				lo, hi := rng.Uint64N(tc.keySpace), rng.Uint64N(tc.keySpace)
				if rng.IntN(10) == 0 {
					lo, hi = 0, 1<<64-1
				}
				var want []uint32
				for num, keys := range model {
					for _, k := range keys {
						if k >= lo && k <= hi {
							want = append(want, num)
							break
						}
					}
				}
				slices.Sort(want)
				got := o.collect(lo, hi, maxNum).ToArray()
				if want == nil {
					want = []uint32{}
				}
				require.Equal(t, want, append([]uint32{}, got...), "step %d [%d, %d]", step, lo, hi)

				// Equality with a format code, at a key some document has.
				var k uint64
				for _, keys := range model {
					k = keys[rng.IntN(len(keys))]
					break
				}
				code := uint16(rng.IntN(3))
				want = []uint32{}
				for num, keys := range model {
					for i, kk := range keys {
						if kk == k && codes[num][i] == code {
							want = append(want, num)
							break
						}
					}
				}
				slices.Sort(want)
				require.Equal(t, want, append([]uint32{}, o.collectCode(k, code).ToArray()...), "step %d key %d code %d", step, k, code)
			}
		})
	}
}
