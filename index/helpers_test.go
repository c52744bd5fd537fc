package index

import (
	"math"
	"slices"
	"sort"
)

func nan() float64 { return math.NaN() }

func ptr[T any](v T) *T { return &v }

func isSorted(s []string) bool { return slices.IsSorted(s) }

func sortBy[T any](s []T, less func(a, b T) bool) {
	sort.Slice(s, func(i, j int) bool { return less(s[i], s[j]) })
}
