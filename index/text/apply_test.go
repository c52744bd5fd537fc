package text

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// lenOf is a text's length in tokens under ix's analyzer.
func lenOf(ix *Index, s string) uint64 { return uint64(len(ix.Terms(s))) }

func statsT(t *testing.T, ix *Index, terms ...string) Stats {
	t.Helper()
	st, err := ix.Stats(terms)
	require.NoError(t, err)
	return st
}

func TestApplyUpdatesStatistics(t *testing.T) {
	ix := openT(t, Config{})
	a := "heat transfer in a heated plate"         // heat, transfer, heat, plate
	b := "wing flutter and wing heat"              // wing, flutter, wing, heat
	c := "supersonic flow"                         // supersonic, flow
	r := "heat heat heat: a long replacement text" // heat ×3, long, replac, text
	la, lb, lc, lr := lenOf(ix, a), lenOf(ix, b), lenOf(ix, c), lenOf(ix, r)

	type want struct {
		count    uint64
		totalLen uint64
		df       map[string]uint64
	}
	steps := []struct {
		name    string
		puts    []Doc
		deletes []uint32
		want    want
	}{
		{"insert", []Doc{{1, a}, {2, b}, {3, c}}, nil,
			want{3, la + lb + lc, map[string]uint64{"heat": 2, "wing": 1, "flow": 1}}},
		{"replace", []Doc{{2, r}}, nil,
			want{3, la + lr + lc, map[string]uint64{"heat": 2, "wing": 0, "flow": 1}}},
		{"replace again with the same text", []Doc{{2, r}}, nil,
			want{3, la + lr + lc, map[string]uint64{"heat": 2, "wing": 0, "flow": 1}}},
		{"delete", nil, []uint32{1},
			want{2, lr + lc, map[string]uint64{"heat": 1, "wing": 0, "flow": 1}}},
		{"delete absent", nil, []uint32{1, 77},
			want{2, lr + lc, map[string]uint64{"heat": 1, "wing": 0, "flow": 1}}},
		{"put then delete in one batch", []Doc{{4, b}}, []uint32{4, 3},
			want{1, lr, map[string]uint64{"heat": 1, "wing": 0, "flow": 0}}},
		{"last put wins", []Doc{{5, a}, {5, c}, {2, b}}, nil,
			want{2, lb + lc, map[string]uint64{"heat": 1, "wing": 1, "flow": 1}}},
		{"empty text", []Doc{{6, ""}, {7, "the of and"}}, nil,
			want{4, lb + lc, map[string]uint64{"heat": 1, "wing": 1, "flow": 1}}},
		{"nothing", nil, nil,
			want{4, lb + lc, map[string]uint64{"heat": 1, "wing": 1, "flow": 1}}},
	}
	for i, s := range steps {
		require.NoError(t, ix.Apply(uint64(10+i), s.puts, s.deletes), s.name)
		st := statsT(t, ix, "heat", "wing", "flow")
		require.Equal(t, Stats{Docs: s.want.count, TotalLen: s.want.totalLen, DF: s.want.df}, st, s.name)
		n, err := ix.Count()
		require.NoError(t, err)
		require.Equal(t, s.want.count, n, s.name)
		require.Equal(t, uint64(10+i), ix.Seq(), s.name)
		checkInvariants(t, ix)
	}
}

func TestSeqSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "text")
	ix, err := Open(dir, Config{})
	require.NoError(t, err)
	require.Zero(t, ix.Seq())
	require.NoError(t, ix.Apply(5, docsOf(1, corpus...), nil))
	require.NoError(t, ix.Apply(9, docsOf(3, "replaced text"), []uint32{4}))
	require.NoError(t, ix.Apply(12, nil, nil))
	want := statsT(t, ix, "wing", "heat", "replac")
	wantHits := search(t, ix, "wing heat replaced", 100, nil)
	require.NoError(t, ix.Close())
	require.NoError(t, ix.Close(), "second Close")

	ix = openDirT(t, dir, Config{})
	require.Equal(t, uint64(12), ix.Seq())
	require.Equal(t, want, statsT(t, ix, "wing", "heat", "replac"))
	require.Equal(t, wantHits, search(t, ix, "wing heat replaced", 100, nil))
	checkInvariants(t, ix)

	// Keep going after the reopen: the total length carries on.
	require.NoError(t, ix.Apply(12, docsOf(100, "more wing text"), []uint32{1}))
	checkInvariants(t, ix)
}

func TestApplySeqOrder(t *testing.T) {
	ix := openT(t, Config{})
	require.NoError(t, ix.Apply(7, docsOf(1, "a wing"), nil))
	err := ix.Apply(6, docsOf(2, "a wing"), nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Equal(t, uint64(7), ix.Seq())
	n, err := ix.Count()
	require.NoError(t, err)
	require.Equal(t, uint64(1), n, "the rejected batch left nothing")
	require.NoError(t, ix.Apply(7, docsOf(2, "a wing"), nil), "an equal seq is fine")
}

func TestClosed(t *testing.T) {
	ix, err := Open(filepath.Join(t.TempDir(), "text"), Config{})
	require.NoError(t, err)
	require.NoError(t, ix.Close())
	require.ErrorIs(t, ix.Apply(1, nil, nil), ErrClosed)
	_, err = ix.Count()
	require.ErrorIs(t, err, ErrClosed)
	_, err = ix.Stats([]string{"a"})
	require.ErrorIs(t, err, ErrClosed)
	_, err = ix.Search([]string{"a"}, Stats{Docs: 1, DF: map[string]uint64{"a": 1}}, 1, nil)
	require.ErrorIs(t, err, ErrClosed)
}

// TestLargeBatches goes through several batches big enough for bleve to
// merge segments, with replacements, and checks the bookkeeping.
func TestLargeBatches(t *testing.T) {
	ix := openT(t, Config{})
	words := []string{"wing", "flow", "heat", "shock", "plate", "shell", "drag", "noise", "jet", "boundary", "layer"}
	text := func(i int) string {
		s := ""
		for j := 0; j < 3+i%40; j++ {
			s += words[(i*7+j*j)%len(words)] + " "
		}
		return s
	}
	const n = 3000
	for batch := 0; batch < 6; batch++ {
		var puts []Doc
		for i := batch * 500; i < (batch+1)*500; i++ {
			puts = append(puts, Doc{Num: uint32(i), Text: text(i)})
		}
		// Replace some earlier documents, delete others.
		var dels []uint32
		for i := 0; i < batch*500; i += 37 {
			puts = append(puts, Doc{Num: uint32(i), Text: text(i + 1)})
			dels = append(dels, uint32(i+5))
		}
		require.NoError(t, ix.Apply(uint64(batch+1), puts, dels))
	}
	checkInvariants(t, ix)
	cnt, err := ix.Count()
	require.NoError(t, err)
	require.Less(t, cnt, uint64(n))
}

// TestSearchDuringApply runs searches while batches are applied (for -race).
func TestSearchDuringApply(t *testing.T) {
	ix := openT(t, Config{})
	require.NoError(t, ix.Apply(1, docsOf(1, corpus...), nil))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				terms := ix.Terms("wing heat flow")
				st, err := ix.Stats(terms)
				if err != nil {
					panic(err)
				}
				if _, err := ix.Search(terms, st, 5, nil); err != nil {
					panic(err)
				}
			}
		})
	}
	for i := range 20 {
		require.NoError(t, ix.Apply(uint64(2+i), docsOf(uint32(100+i), fmt.Sprintf("wing %d heat", i)), []uint32{uint32(1 + i%20)}))
	}
	close(stop)
	wg.Wait()
	checkInvariants(t, ix)
}
