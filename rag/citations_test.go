package rag

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCitations(t *testing.T) {
	for _, tt := range []struct {
		name, answer string
		n            int
		want         []int
		bad          []string
	}{
		{"none", "No sources say anything.", 3, nil, nil},
		{"one", "Otters sleep in dens [2].", 3, []int{2}, nil},
		{"order of first appearance", "A [3]. B [1]. C [3].", 3, []int{3, 1}, nil},
		{"list with space", "Both [1, 3].", 3, []int{1, 3}, nil},
		{"list without space", "Both [1,3].", 3, []int{1, 3}, nil},
		{"semicolons", "Both [1; 2].", 3, []int{1, 2}, nil},
		{"adjacent", "Both [1][2].", 3, []int{1, 2}, nil},
		{"range", "All [2-4].", 5, []int{2, 3, 4}, nil},
		{"en dash range", "All [1–2].", 5, []int{1, 2}, nil},
		{"source word", "As [Source 2] and [sources 1, 3] say.", 3, []int{2, 1, 3}, nil},
		{"spaces inside", "See [ 2 ].", 3, []int{2}, nil},
		{"out of range", "See [4] and [0] and [2].", 3, []int{2}, []string{"4", "0"}},
		{"range past the end", "See [2-5].", 4, []int{2, 3, 4}, []string{"5"}},
		{"backwards range", "See [3-1].", 3, nil, []string{"3-1"}},
		{"range wider than the passages", "See [1-9999].", 3, nil, []string{"1-9999"}},
		{"duplicates", "[1] [1] [1, 1]", 3, []int{1}, nil},
		{"inline code", "Use `a[1]` then [2].", 3, []int{2}, nil},
		{"double backtick code", "Use ``x[1]`` and [3].", 3, []int{3}, nil},
		{"fenced code", "Code:\n```go\nx := a[1]\n```\nAs said [2].", 3, []int{2}, nil},
		{"tilde fence", "~~~\nb[3]\n~~~\n[1]", 3, []int{1}, nil},
		{"unclosed backtick is text", "A ` lone backtick [1].", 3, []int{1}, nil},
		{"not citations", "An array a [x] and a link [text](http://x) and [^1] and [1a].", 3, nil, nil},
		{"years are not numbers of passages", "In [2024] it changed [1].", 3, []int{1}, []string{"2024"}},
		{"five digits are not a marker", "Code [12345] here.", 3, nil, nil},
		{"no passages", "See [1].", 0, nil, []string{"1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, bad := parseCitations(tt.answer, tt.n)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.bad, bad)
		})
	}
}

func TestStripCode(t *testing.T) {
	require.Equal(t, "a   b", stripCode("a `x` b"))
	require.Equal(t, "x\n\n\n\ny", stripCode("x\n```\ncode [1]\n```\ny"))
	require.Equal(t, "no code", stripCode("no code"))
}
