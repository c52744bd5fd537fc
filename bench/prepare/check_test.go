package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// cmpFixture is one query over 6 base rows with k = 3. Its exact distances
// are given directly: rows 1 and 2 tie exactly, rows 3 and 4 nearly.
func cmpFixture(theirs []int32, theirsDist []float32) *cmpInput {
	exact := []float64{0.5, 1, 1, 2, 2 + 1e-7, 9}
	return &cmpInput{
		k: 3, nBase: len(exact),
		ours: []int32{0, 1, 2}, oursDist: []float32{0.5, 1, 1},
		theirs: theirs, theirsDist: theirsDist,
		exact:  func(_ int, id int32) float64 { return exact[id] },
		tolRel: 1e-6,
	}
}

func TestCompareGT(t *testing.T) {
	tests := []struct {
		name       string
		theirs     []int32
		theirsDist []float32
		want       gtComparison
	}{
		{"identical", []int32{0, 1, 2}, []float32{0.5, 1, 1},
			gtComparison{queries: 1, identical: 1, recall10: 1, recall100: 1, minRecall10: 1}},
		{"exact tie swapped", []int32{0, 2, 1}, []float32{0.5, 1, 1},
			gtComparison{queries: 1, exactTies: 1, recall10: 1, recall100: 1, minRecall10: 1}},
		{"real mismatch", []int32{0, 1, 5}, []float32{0.5, 1, 1},
			gtComparison{queries: 1, mismatches: 1, recall10: 2.0 / 3, recall100: 2.0 / 3, minRecall10: 2.0 / 3,
				firstMismatch: "query 0: position 2: reference id 5 at distance 9, ours id 2 at 1"}},
		{"repeated id", []int32{0, 1, 1}, []float32{0.5, 1, 1},
			gtComparison{queries: 1, mismatches: 1, recall10: 2.0 / 3, recall100: 2.0 / 3, minRecall10: 2.0 / 3,
				firstMismatch: "query 0: reference list repeats id 1 at position 2"}},
		{"id out of range", []int32{0, 1, 6}, []float32{0.5, 1, 1},
			gtComparison{queries: 1, mismatches: 1, recall10: 2.0 / 3, recall100: 2.0 / 3, minRecall10: 2.0 / 3,
				firstMismatch: "query 0: reference list has id 6 out of range at position 2"}},
		{"stored distance off", []int32{0, 1, 2}, []float32{0.5, 1, 1.1},
			gtComparison{queries: 1, mismatches: 1, recall10: 1, recall100: 1, minRecall10: 1,
				maxDistDiff: float64(float32(1.1)) - 1, maxDistDiffRel: float64(float32(1.1)) - 1,
				firstMismatch: "query 0: position 2: stored distance 1, reference 1.100000023841858"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, compareGT(cmpFixture(tt.theirs, tt.theirsDist)))
		})
	}
}

func TestCompareGTNearTie(t *testing.T) {
	// Ours ends with row 3 at 2, theirs with row 4 at 2+1e-7: within 1e-6
	// relative, so a near-tie; with a tighter tolerance, a mismatch.
	in := cmpFixture([]int32{0, 1, 4}, []float32{0.5, 1, 2})
	in.ours, in.oursDist = []int32{0, 1, 3}, []float32{0.5, 1, 2}
	c := compareGT(in)
	require.Equal(t, 1, c.nearTies)
	require.Zero(t, c.mismatches)
	require.InDelta(t, 1e-7, c.maxGap, 1e-15)
	require.InDelta(t, 0.5e-7, c.maxGapRel, 1e-15)

	in.tolRel = 1e-8
	c = compareGT(in)
	require.Equal(t, 1, c.mismatches)
	require.Zero(t, c.nearTies)
}

func TestOverlap(t *testing.T) {
	require.Equal(t, 1.0, overlap([]int32{1, 2, 3}, []int32{3, 2, 1}))
	require.Equal(t, 0.5, overlap([]int32{1, 2}, []int32{2, 9}))
	require.Equal(t, 0.0, overlap([]int32{1}, []int32{2}))
}
