package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// holdRounds makes the committer stop inside each round's transaction, just
// before the commit, until the test lets it go. Each round sends its requests
// on the returned channel; send on release to let one round commit.
func holdRounds(s *Store) (rounds <-chan []*request, release chan<- struct{}) {
	r := make(chan []*request, 100)
	rel := make(chan struct{}, 100)
	s.roundHook = func(reqs []*request) {
		r <- reqs
		<-rel
	}
	return r, rel
}

// waitQueued waits until n requests are queued for the committer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.mu.queue) == n
	}, 10*time.Second, time.Millisecond)
}

type result struct {
	changes []Change
	err     error
}

// applyAsync runs Apply in a goroutine; the result arrives on the channel.
func applyAsync(ctx context.Context, s *Store, ops []Op) <-chan result {
	c := make(chan result, 1)
	go func() {
		ch, err := s.Apply(ctx, ops)
		c <- result{ch, err}
	}()
	return c
}

func TestApplyValidation(t *testing.T) {
	valid := puts(mkDoc("ok1", 1), mkDoc("ok2", 1))
	tests := []struct {
		name string
		bad  Op
		msg  string
	}{
		{"no kind", Op{Doc: mkDoc("x", 1)}, "op 2: unknown kind 0"},
		{"unknown kind", Op{Kind: 9, ID: "x"}, "op 2: unknown kind 9"},
		{"put with empty id", Op{Kind: OpPut, Doc: Doc{Text: "t"}}, "op 2 (put): id is empty"},
		{"put with the id in the wrong field", Op{Kind: OpPut, ID: "x"}, "op 2 (put): id is empty"},
		{"delete with empty id", Op{Kind: OpDelete}, "op 2 (delete): id is empty"},
		{"id too long", Op{Kind: OpPut, Doc: Doc{ID: strings.Repeat("x", MaxIDLen+1)}}, "op 2 (put): id of 1025 bytes is longer than 1024"},
		{"id not utf-8", Op{Kind: OpDelete, ID: "a\xffb"}, `op 2 (delete): id "a\xffb" is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			apply(t, s, puts(mkDoc("before", 1))...)
			ops := append(slices.Clone(valid), tt.bad, puts(mkDoc("ok3", 1))[0])
			ch, err := s.Apply(t.Context(), ops)
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.ErrorContains(t, err, tt.msg)
			require.Nil(t, ch)
			// Nothing of the batch was written.
			require.Equal(t, uint64(1), s.LastSeq())
			require.Equal(t, []Doc{withNum(mkDoc("before", 1), 1)}, allDocs(t, s))
			require.Equal(t, uint64(1), s.Stats().Commits)
		})
	}
	t.Run("id of exactly MaxIDLen bytes is fine", func(t *testing.T) {
		s := newStore(t)
		apply(t, s, puts(Doc{ID: strings.Repeat("é", MaxIDLen/2)})...)
	})
}

// TestApplyAllOrNothingInTransaction fails an op inside the transaction,
// after earlier ops of the batch were written: none of them may persist.
func TestApplyAllOrNothingInTransaction(t *testing.T) {
	s := newStore(t)
	apply(t, s, puts(mkDoc("a", 1))...)
	s.state.nextNum = math.MaxUint32 // committer-owned; no Apply is running
	_, err := s.Apply(t.Context(), puts(mkDoc("b", 1), mkDoc("a", 2), mkDoc("c", 1)))
	require.ErrorIs(t, err, ErrFull)
	require.Equal(t, []Doc{withNum(mkDoc("a", 1), 1)}, allDocs(t, s))
	require.Equal(t, uint64(1), s.LastSeq())
	require.Len(t, allChanges(t, s, 0), 1)
	n, err := s.Count()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	// The last number is still usable, once.
	ch := apply(t, s, puts(mkDoc("b", 1))...)
	require.Equal(t, uint32(math.MaxUint32), ch[0].Num)
	_, err = s.Apply(t.Context(), puts(mkDoc("c", 1)))
	require.ErrorIs(t, err, ErrFull)
}

func TestGroupCommit(t *testing.T) {
	const writers, each = 8, 40
	s := newStore(t)
	var mu sync.Mutex
	maxRound := 0
	s.roundHook = func(reqs []*request) {
		mu.Lock()
		maxRound = max(maxRound, len(reqs))
		mu.Unlock()
		time.Sleep(time.Millisecond) // stands in for the fsync NoSync skips
	}
	seqs := make([][]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ch, err := s.Apply(t.Context(), puts(mkDoc(fmt.Sprintf("w%d-%d", w, i), i)))
				if err != nil {
					t.Error(err)
					return
				}
				seqs[w] = append(seqs[w], ch[0].Seq)
			}
		})
	}
	wg.Wait()

	var all []uint64
	for w := range writers {
		require.True(t, slices.IsSorted(seqs[w]), "a writer's calls commit in its order")
		all = append(all, seqs[w]...)
	}
	slices.Sort(all)
	for i, seq := range all {
		require.Equal(t, uint64(i+1), seq, "sequence numbers are unique and gap-free")
	}
	st := s.Stats()
	t.Logf("%d calls in %d commits, largest round %d calls", st.Applies, st.Commits, maxRound)
	require.Equal(t, uint64(writers*each), st.Applies)
	require.Equal(t, uint64(writers*each), st.Ops)
	require.LessOrEqual(t, st.Commits, uint64(writers*each/2), "concurrent calls share commits")
	require.Greater(t, maxRound, 1)
	n, err := s.Count()
	require.NoError(t, err)
	require.Equal(t, writers*each, n)
}

func TestLoneApplyCommitsAtOnce(t *testing.T) {
	s := newStore(t)
	var rounds []int
	s.roundHook = func(reqs []*request) { rounds = append(rounds, len(reqs)) }
	for i := range 5 {
		before := s.Stats()
		apply(t, s, puts(mkDoc(fmt.Sprint(i), i))...)
		after := s.Stats()
		require.Equal(t, before.Commits+1, after.Commits)
		require.Equal(t, before.Applies+1, after.Applies)
	}
	require.Equal(t, []int{1, 1, 1, 1, 1}, rounds, "each lone call is a round of its own")
}

func TestMaxBatchOps(t *testing.T) {
	s := openAt(t, t.TempDir()+"/s.db", Config{NoSync: true, MaxBatchOps: 10})
	rounds, release := holdRounds(s)
	first := applyAsync(t.Context(), s, puts(mkDoc("first", 1)))
	<-rounds // the committer is now held inside round 1

	var results []<-chan result
	for i := range 12 {
		ops := puts(mkDoc(fmt.Sprint(i, "a"), 1), mkDoc(fmt.Sprint(i, "b"), 1), mkDoc(fmt.Sprint(i, "c"), 1))
		if i == 5 {
			for j := range 22 {
				ops = append(ops, puts(mkDoc(fmt.Sprint(i, "x", j), 1))...)
			}
		}
		results = append(results, applyAsync(t.Context(), s, ops))
		waitQueued(t, s, i+1) // keep the arrival order known
	}
	release <- struct{}{}
	require.NoError(t, (<-first).err)

	var sizes [][]int
	for committed := 0; committed < 12; {
		reqs := <-rounds
		var size []int
		for _, r := range reqs {
			size = append(size, len(r.ops))
		}
		sizes = append(sizes, size)
		committed += len(reqs)
		release <- struct{}{}
	}
	// 3-op calls fill rounds up to 10 ops; the 25-op call goes alone.
	require.Equal(t, [][]int{{3, 3, 3}, {3, 3}, {25}, {3, 3, 3}, {3, 3, 3}}, sizes)
	for _, r := range results {
		require.NoError(t, (<-r).err)
	}
	require.Equal(t, uint64(1+12*3+22), s.LastSeq())
}

func TestApplyContext(t *testing.T) {
	t.Run("cancelled before the call", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.Apply(ctx, puts(mkDoc("a", 1)))
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, s.Stats().Commits)
	})
	t.Run("cancelled while queued: withdrawn", func(t *testing.T) {
		s := newStore(t)
		rounds, release := holdRounds(s)
		first := applyAsync(t.Context(), s, puts(mkDoc("first", 1)))
		<-rounds
		ctx, cancel := context.WithCancel(t.Context())
		queued := applyAsync(ctx, s, puts(mkDoc("withdrawn", 1)))
		waitQueued(t, s, 1)
		cancel()
		// Returns while the committer is still held in round 1.
		require.ErrorIs(t, (<-queued).err, context.Canceled)
		waitQueued(t, s, 0)
		release <- struct{}{}
		require.NoError(t, (<-first).err)
		_, ok, err := s.Get("withdrawn")
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, uint64(1), s.LastSeq())
	})
	t.Run("cancelled inside the transaction: committed", func(t *testing.T) {
		s := newStore(t)
		rounds, release := holdRounds(s)
		ctx, cancel := context.WithCancel(t.Context())
		taken := applyAsync(ctx, s, puts(mkDoc("taken", 1)))
		<-rounds
		cancel()
		select {
		case <-taken:
			t.Fatal("Apply returned before its transaction committed")
		case <-time.After(20 * time.Millisecond):
		}
		release <- struct{}{}
		r := <-taken
		require.NoError(t, r.err)
		require.Equal(t, uint64(1), r.changes[0].Seq)
		_, ok, err := s.Get("taken")
		require.NoError(t, err)
		require.True(t, ok)
	})
}

func TestGroupCommitFailureIsolated(t *testing.T) {
	s := newStore(t)
	boom := errors.New("boom")
	s.applyHook = func(r *request) error {
		if r.ops[0].Doc.ID == "bad" {
			return boom
		}
		return nil
	}
	rounds, release := holdRounds(s)
	first := applyAsync(t.Context(), s, puts(mkDoc("first", 1)))
	<-rounds
	good1 := applyAsync(t.Context(), s, puts(mkDoc("good1", 1), mkDoc("good1b", 1)))
	waitQueued(t, s, 1)
	bad := applyAsync(t.Context(), s, puts(mkDoc("bad", 1)))
	waitQueued(t, s, 2)
	good2 := applyAsync(t.Context(), s, puts(mkDoc("good2", 1)))
	waitQueued(t, s, 3)
	close(release) // let every round through
	require.NoError(t, (<-first).err)

	r1, rb, r2 := <-good1, <-bad, <-good2
	require.NoError(t, r1.err)
	require.ErrorIs(t, rb.err, boom)
	require.Nil(t, rb.changes)
	require.NoError(t, r2.err)
	require.Equal(t, []uint64{2, 3}, []uint64{r1.changes[0].Seq, r1.changes[1].Seq})
	require.Equal(t, uint64(4), r2.changes[0].Seq, "the failed call took no sequence number")
	require.Equal(t, uint64(1), s.Stats().Retries)
	var ids []string
	for _, d := range allDocs(t, s) {
		ids = append(ids, d.ID)
	}
	require.Equal(t, []string{"first", "good1", "good1b", "good2"}, ids)
}

func TestClose(t *testing.T) {
	t.Run("drains the queue", func(t *testing.T) {
		path := t.TempDir() + "/s.db"
		s, err := Open(path, Config{NoSync: true})
		require.NoError(t, err)
		rounds, release := holdRounds(s)
		first := applyAsync(t.Context(), s, puts(mkDoc("first", 1)))
		<-rounds
		var queued []<-chan result
		for i := range 5 {
			queued = append(queued, applyAsync(t.Context(), s, puts(mkDoc(fmt.Sprint(i), 1))))
		}
		waitQueued(t, s, 5)
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		require.Eventually(t, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.mu.closed
		}, 10*time.Second, time.Millisecond)
		_, err = s.Apply(t.Context(), puts(mkDoc("late", 1)))
		require.ErrorIs(t, err, ErrClosed)
		close(release)
		require.NoError(t, (<-first).err)
		for _, q := range queued {
			require.NoError(t, (<-q).err)
		}
		require.NoError(t, <-closed)

		s = openAt(t, path, Config{NoSync: true})
		n, err := s.Count()
		require.NoError(t, err)
		require.Equal(t, 6, n)
	})
	t.Run("every call after close fails", func(t *testing.T) {
		s := newStore(t)
		apply(t, s, puts(mkDoc("a", 1))...)
		require.NoError(t, s.Close())
		calls := map[string]func() error{
			"Apply":       func() error { _, err := s.Apply(t.Context(), puts(mkDoc("b", 1))); return err },
			"Get":         func() error { _, _, err := s.Get("a"); return err },
			"GetByNum":    func() error { _, _, err := s.GetByNum(1); return err },
			"Count":       func() error { _, err := s.Count(); return err },
			"Scan":        func() error { _, _, err := s.Scan("", 1); return err },
			"ForEach":     func() error { return s.ForEach(func(Doc) error { return nil }) },
			"Changes":     func() error { return s.Changes(0, func(Change) error { return nil }) },
			"View":        func() error { return s.View(func(*Reader) error { return nil }) },
			"TruncateLog": func() error { return s.TruncateLog(1) },
			"Close":       s.Close,
		}
		for name, call := range calls {
			require.ErrorIs(t, call(), ErrClosed, name)
		}
		require.Equal(t, uint64(1), s.LastSeq())
	})
}
