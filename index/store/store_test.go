package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openAt opens the store at path and closes it when the test ends (unless
// the test closed it).
func openAt(t testing.TB, path string, cfg Config) *Store {
	t.Helper()
	s, err := Open(path, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// newStore opens a fresh store without fsync.
func newStore(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "shard.db"), Config{NoSync: true})
}

// mkDoc returns a document whose every field depends on id and v.
func mkDoc(id string, v int) Doc {
	return Doc{
		ID:       id,
		Text:     fmt.Sprintf("text of %s v%d", id, v),
		Metadata: fmt.Appendf(nil, `{"v":%d}`, v),
		Vector:   []float32{float32(v), -1.5, float32(len(id))},
		Source:   "src/" + id,
		Chunk:    int32(v - 3),
	}
}

func puts(docs ...Doc) []Op {
	ops := make([]Op, len(docs))
	for i, d := range docs {
		ops[i] = Op{Kind: OpPut, Doc: d}
	}
	return ops
}

func dels(ids ...string) []Op {
	ops := make([]Op, len(ids))
	for i, id := range ids {
		ops[i] = Op{Kind: OpDelete, ID: id}
	}
	return ops
}

func apply(t testing.TB, s *Store, ops ...Op) []Change {
	t.Helper()
	ch, err := s.Apply(t.Context(), ops)
	require.NoError(t, err)
	require.Len(t, ch, len(ops))
	return ch
}

// withNum returns d with its number set, as read back.
func withNum(d Doc, num uint32) Doc {
	d.Num = num
	return d
}

// allDocs reads every document through ForEach.
func allDocs(t testing.TB, s *Store) []Doc {
	t.Helper()
	var docs []Doc
	require.NoError(t, s.ForEach(func(d Doc) error {
		docs = append(docs, d)
		return nil
	}))
	return docs
}

func allChanges(t testing.TB, s *Store, after uint64) []Change {
	t.Helper()
	var cs []Change
	require.NoError(t, s.Changes(after, func(c Change) error {
		cs = append(cs, c)
		return nil
	}))
	return cs
}

func TestApplyRoundTrip(t *testing.T) {
	a, b, c := mkDoc("a", 1), mkDoc("b", 1), mkDoc("c", 1)
	a2 := mkDoc("a", 2)
	bare := Doc{ID: "bare"} // no text, metadata, vector or source
	tests := []struct {
		name    string
		batches [][]Op
		changes [][]Change // per batch
		want    []Doc      // final documents, in Num order
	}{{
		name:    "puts get consecutive numbers and sequences",
		batches: [][]Op{puts(a, b), puts(c)},
		changes: [][]Change{
			{{Seq: 1, Kind: OpPut, ID: "a", Num: 1}, {Seq: 2, Kind: OpPut, ID: "b", Num: 2}},
			{{Seq: 3, Kind: OpPut, ID: "c", Num: 3}},
		},
		want: []Doc{withNum(a, 1), withNum(b, 2), withNum(c, 3)},
	}, {
		name:    "an update keeps its number",
		batches: [][]Op{puts(a, b), puts(a2)},
		changes: [][]Change{
			{{Seq: 1, Kind: OpPut, ID: "a", Num: 1}, {Seq: 2, Kind: OpPut, ID: "b", Num: 2}},
			{{Seq: 3, Kind: OpPut, ID: "a", Num: 1, Existed: true}},
		},
		want: []Doc{withNum(a2, 1), withNum(b, 2)},
	}, {
		name:    "a number is not reused after a delete",
		batches: [][]Op{puts(a), dels("a"), puts(a2)},
		changes: [][]Change{
			{{Seq: 1, Kind: OpPut, ID: "a", Num: 1}},
			{{Seq: 2, Kind: OpDelete, ID: "a", Num: 1, Existed: true}},
			{{Seq: 3, Kind: OpPut, ID: "a", Num: 2}},
		},
		want: []Doc{withNum(a2, 2)},
	}, {
		name:    "a delete of a missing id changes nothing",
		batches: [][]Op{puts(a), dels("zz"), puts(b)},
		changes: [][]Change{
			{{Seq: 1, Kind: OpPut, ID: "a", Num: 1}},
			{{Seq: 0, Kind: OpDelete, ID: "zz"}},
			{{Seq: 2, Kind: OpPut, ID: "b", Num: 2}},
		},
		want: []Doc{withNum(a, 1), withNum(b, 2)},
	}, {
		name:    "ops of one batch apply in order",
		batches: [][]Op{append(append(puts(a), dels("a")...), puts(b, a2)...)},
		changes: [][]Change{{
			{Seq: 1, Kind: OpPut, ID: "a", Num: 1},
			{Seq: 2, Kind: OpDelete, ID: "a", Num: 1, Existed: true},
			{Seq: 3, Kind: OpPut, ID: "b", Num: 2},
			{Seq: 4, Kind: OpPut, ID: "a", Num: 3},
		}},
		want: []Doc{withNum(b, 2), withNum(a2, 3)},
	}, {
		name:    "empty fields round trip",
		batches: [][]Op{puts(bare)},
		changes: [][]Change{{{Seq: 1, Kind: OpPut, ID: "bare", Num: 1}}},
		want:    []Doc{withNum(bare, 1)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			var logged []Change
			for i, ops := range tt.batches {
				got := apply(t, s, ops...)
				for j := range got {
					got[j].PrevMetadata = nil // TestPrevMetadata checks it; the log does not keep it
				}
				require.Equal(t, tt.changes[i], got, "batch %d", i)
				for _, c := range got {
					if c.Seq != 0 {
						logged = append(logged, c)
					}
				}
			}
			require.Equal(t, tt.want, allDocs(t, s))
			n, err := s.Count()
			require.NoError(t, err)
			require.Equal(t, len(tt.want), n)
			for _, w := range tt.want {
				got, ok, err := s.Get(w.ID)
				require.NoError(t, err)
				require.True(t, ok, w.ID)
				require.Equal(t, w, got)
				got, ok, err = s.GetByNum(w.Num)
				require.NoError(t, err)
				require.True(t, ok, w.Num)
				require.Equal(t, w, got)
			}
			require.Equal(t, logged, allChanges(t, s, 0), "change log")
			require.Equal(t, logged[len(logged)-1].Seq, s.LastSeq())
		})
	}
}

func TestGetMissing(t *testing.T) {
	s := newStore(t)
	apply(t, s, puts(mkDoc("a", 1))...)
	apply(t, s, dels("a")...)
	tests := []struct {
		name string
		get  func() (Doc, bool, error)
	}{
		{"never stored", func() (Doc, bool, error) { return s.Get("nope") }},
		{"empty id", func() (Doc, bool, error) { return s.Get("") }},
		{"deleted", func() (Doc, bool, error) { return s.Get("a") }},
		{"deleted num", func() (Doc, bool, error) { return s.GetByNum(1) }},
		{"unassigned num", func() (Doc, bool, error) { return s.GetByNum(99) }},
		{"num 0", func() (Doc, bool, error) { return s.GetByNum(0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok, err := tt.get()
			require.NoError(t, err)
			require.False(t, ok)
			require.Zero(t, d)
		})
	}
}

func TestScanPaging(t *testing.T) {
	s := newStore(t)
	var ids []string
	for i := range 25 {
		ids = append(ids, fmt.Sprintf("doc-%02d", (i*7)%25)) // stored out of ID order
	}
	for _, id := range ids {
		apply(t, s, puts(mkDoc(id, 1))...)
	}
	apply(t, s, dels("doc-13")...)
	want := slices.DeleteFunc(slices.Sorted(slices.Values(ids)), func(id string) bool { return id == "doc-13" })

	for _, limit := range []int{1, 3, 7, 24, 25, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []string
			after, pages := "", 0
			for {
				docs, next, err := s.Scan(after, limit)
				require.NoError(t, err)
				require.LessOrEqual(t, len(docs), limit)
				pages++
				for _, d := range docs {
					got = append(got, d.ID)
					require.Equal(t, withNum(mkDoc(d.ID, 1), d.Num), d)
				}
				if next == "" {
					break
				}
				require.Equal(t, docs[len(docs)-1].ID, next)
				after = next
			}
			require.Equal(t, want, got)
			require.Equal(t, (len(want)+limit-1)/limit, pages, "no empty last page")
		})
	}
	t.Run("after an id that is not stored", func(t *testing.T) {
		docs, _, err := s.Scan("doc-12z", 2)
		require.NoError(t, err)
		require.Equal(t, "doc-14", docs[0].ID)
	})
	t.Run("bad limit", func(t *testing.T) {
		_, _, err := s.Scan("", 0)
		require.ErrorIs(t, err, ErrInvalidArgument)
	})
}

func TestViewIsASnapshot(t *testing.T) {
	s := newStore(t)
	apply(t, s, puts(mkDoc("a", 1), mkDoc("b", 1))...)
	err := s.View(func(r *Reader) error {
		// A commit while the snapshot is open is not seen by it.
		apply(t, s, puts(mkDoc("a", 2), mkDoc("c", 1))...)
		d, ok, err := r.Get("a")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, withNum(mkDoc("a", 1), 1), d)
		_, ok, err = r.Get("c")
		require.NoError(t, err)
		require.False(t, ok)
		n, err := r.Count()
		require.NoError(t, err)
		require.Equal(t, 2, n)
		seq, err := r.LastSeq()
		require.NoError(t, err)
		require.Equal(t, uint64(2), seq)
		return nil
	})
	require.NoError(t, err)
	d, _, err := s.Get("a")
	require.NoError(t, err)
	require.Equal(t, withNum(mkDoc("a", 2), 1), d)
}

func TestCallbackErrorsStop(t *testing.T) {
	s := newStore(t)
	apply(t, s, puts(mkDoc("a", 1), mkDoc("b", 1), mkDoc("c", 1))...)
	stop := errors.New("stop")
	calls := 0
	err := s.ForEach(func(Doc) error { calls++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, calls)
	calls = 0
	err = s.Changes(0, func(Change) error { calls++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, calls)
}

func TestChangesAfter(t *testing.T) {
	s := newStore(t)
	for i := range 10 {
		apply(t, s, puts(mkDoc(fmt.Sprint("d", i%4), i))...)
	}
	for _, after := range []uint64{0, 1, 5, 9, 10, 11, 1 << 63} {
		t.Run(fmt.Sprint(after), func(t *testing.T) {
			got := allChanges(t, s, after)
			var want []Change
			for seq := after + 1; seq <= 10; seq++ {
				i := int(seq - 1)
				want = append(want, Change{Seq: seq, Kind: OpPut, ID: fmt.Sprint("d", i%4), Num: uint32(i%4 + 1), Existed: i >= 4})
			}
			require.Equal(t, want, got)
		})
	}
}

func TestTruncateLog(t *testing.T) {
	tests := []struct {
		name      string
		upTo      []uint64 // successive calls
		maxBatch  int
		wantFirst uint64 // first seq left; 0 when none
		floor     uint64
	}{
		{"nothing", []uint64{0}, 0, 1, 0},
		{"some", []uint64{4}, 0, 5, 4},
		{"all", []uint64{10}, 0, 0, 10},
		{"in chunks", []uint64{9}, 2, 10, 9},
		{"twice", []uint64{3, 6}, 0, 7, 6},
		{"lower second call keeps the floor", []uint64{6, 3}, 0, 7, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, Config{NoSync: true, MaxBatchOps: tt.maxBatch})
			require.NoError(t, err)
			for i := range 10 {
				apply(t, s, puts(mkDoc(fmt.Sprint("d", i), i))...)
			}
			for _, upTo := range tt.upTo {
				require.NoError(t, s.TruncateLog(upTo))
			}
			check := func(s *Store) {
				cs := allChanges(t, s, tt.floor)
				if tt.wantFirst == 0 {
					require.Empty(t, cs)
				} else {
					require.Equal(t, tt.wantFirst, cs[0].Seq)
					require.Equal(t, uint64(10), cs[len(cs)-1].Seq)
					require.Len(t, cs, int(11-tt.wantFirst))
				}
				if tt.floor > 0 {
					err := s.Changes(tt.floor-1, func(Change) error { return nil })
					require.ErrorIs(t, err, ErrLogTruncated)
				}
				require.Equal(t, uint64(10), s.LastSeq(), "the counter survives truncation")
				floor, err := s.LogFloor()
				require.NoError(t, err)
				require.Equal(t, tt.floor, floor)
			}
			check(s)
			require.NoError(t, s.Close())
			s = openAt(t, path, Config{NoSync: true})
			check(s)
			ch := apply(t, s, puts(mkDoc("new", 1))...)
			require.Equal(t, uint64(11), ch[0].Seq)
		})
	}
	t.Run("past the last sequence", func(t *testing.T) {
		s := newStore(t)
		apply(t, s, puts(mkDoc("a", 1))...)
		require.ErrorIs(t, s.TruncateLog(2), ErrInvalidArgument)
	})
}

func TestCountersSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Config{NoSync: true})
	require.NoError(t, err)
	apply(t, s, puts(mkDoc("a", 1), mkDoc("b", 1), mkDoc("c", 1))...)
	apply(t, s, dels("c")...) // num 3 is spent
	require.NoError(t, s.Close())

	s = openAt(t, path, Config{NoSync: true})
	require.Equal(t, uint64(4), s.LastSeq())
	n, err := s.Count()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	ch := apply(t, s, puts(mkDoc("c", 2), mkDoc("a", 2))...)
	require.Equal(t, []Change{
		{Seq: 5, Kind: OpPut, ID: "c", Num: 4},
		{Seq: 6, Kind: OpPut, ID: "a", Num: 1, Existed: true, PrevMetadata: []byte(`{"v":1}`)},
	}, ch)
	n, err = s.Count()
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

func TestEmptyApply(t *testing.T) {
	s := newStore(t)
	ch, err := s.Apply(t.Context(), nil)
	require.NoError(t, err)
	require.Nil(t, ch)
	require.Zero(t, s.Stats().Commits)
	require.Zero(t, s.LastSeq())
}

// TestPrevMetadata: Apply reports the metadata of the document a put
// replaced or a delete removed, for the metadata index to drop.
func TestPrevMetadata(t *testing.T) {
	s := newStore(t)
	ch := apply(t, s, puts(mkDoc("a", 1))...)
	require.Nil(t, ch[0].PrevMetadata)
	ch = apply(t, s, puts(mkDoc("a", 2))...)
	require.JSONEq(t, `{"v":1}`, string(ch[0].PrevMetadata))
	noMeta := mkDoc("a", 3)
	noMeta.Metadata = nil
	ch = apply(t, s, puts(noMeta)...)
	require.JSONEq(t, `{"v":2}`, string(ch[0].PrevMetadata))
	ch = apply(t, s, puts(mkDoc("a", 4))...)
	require.Nil(t, ch[0].PrevMetadata)
	ch = apply(t, s, dels("a", "missing")...)
	require.JSONEq(t, `{"v":4}`, string(ch[0].PrevMetadata))
	require.Nil(t, ch[1].PrevMetadata)
}
