package hnsw

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"
)

// within fails the test unless fn returns within d: the operations below
// must not wait for a snapshot, a filtered scan or a compaction in progress.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s blocked for %v", what, d)
	}
}

// stallWriter blocks its first Write until release is closed, signalling
// entered when it starts waiting.
type stallWriter struct {
	buf     bytes.Buffer
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		close(w.entered)
		<-w.release
	})
	return w.buf.Write(p)
}

// TestSaveDoesNotBlockWrites: while a snapshot is being written (its
// writer stalled), Add, Delete, searches and compaction steps go on; the
// snapshot, once written, loads.
func TestSaveDoesNotBlockWrites(t *testing.T) {
	f := newFixture(11, 600, 5, 16)
	g := build(t, f, Config{Metric: L2, M: 8, EfConstruction: 40, Seed: 1})
	w := &stallWriter{entered: make(chan struct{}), release: make(chan struct{})}
	saved := make(chan error, 1)
	go func() {
		_, err := g.WriteTo(w)
		saved <- err
	}()
	<-w.entered
	rng := rand.New(rand.NewPCG(1, 1))
	within(t, 10*time.Second, "Add during Save", func() {
		for i := range 50 {
			v := make([]float32, f.dim)
			for j := range v {
				v[j] = float32(rng.NormFloat64())
			}
			require.NoError(t, g.Add(uint32(10000+i), v))
		}
	})
	within(t, 10*time.Second, "Delete during Save", func() {
		for i := range 100 {
			require.NoError(t, g.Delete(uint32(i)))
		}
	})
	within(t, 10*time.Second, "Search during Save", func() {
		_, err := g.Search(f.query(0), 10, 0, nil)
		require.NoError(t, err)
	})
	within(t, 10*time.Second, "compaction's repair during Save", func() {
		_, done := g.CompactStep(50)
		require.False(t, done)
	})
	close(w.release)
	require.NoError(t, <-saved)
	h, _, err := Read(bytes.NewReader(w.buf.Bytes()), int64(w.buf.Len()))
	require.NoError(t, err)
	checkInvariants(t, h)
	// Everything that was live when the Save began is in the snapshot.
	for i := 100; i < f.n(); i++ {
		require.True(t, h.Contains(uint32(i)), "key %d missing from the snapshot", i)
	}
}

// blockingAllow is an allow-list whose Iterate stalls after the first key
// until release is closed.
type blockingAllow struct {
	*roaring.Bitmap
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (a *blockingAllow) Iterate(cb func(uint32) bool) {
	a.Bitmap.Iterate(func(k uint32) bool {
		a.once.Do(func() {
			close(a.entered)
			<-a.release
		})
		return cb(k)
	})
}

// TestFilteredScanDoesNotBlock: a filtered search answered by the exact scan
// holds no lock while it walks its allow-list, so writes, Len and other
// filtered searches go on meanwhile.
func TestFilteredScanDoesNotBlock(t *testing.T) {
	f := newFixture(12, 500, 5, 16)
	g := build(t, f, Config{Metric: L2, M: 8, EfConstruction: 40, Seed: 1})
	a := &blockingAllow{Bitmap: roaring.BitmapOf(1, 2, 3, 4, 5), entered: make(chan struct{}), release: make(chan struct{})}
	found := make(chan []Result, 1)
	go func() {
		res, err := g.Search(f.query(0), 3, 0, a)
		if err != nil {
			panic(err)
		}
		found <- res
	}()
	<-a.entered
	within(t, 10*time.Second, "Add during a filtered scan", func() { require.NoError(t, g.Add(9999, f.row(0))) })
	within(t, 10*time.Second, "Delete during a filtered scan", func() { require.NoError(t, g.Delete(7)) })
	within(t, 10*time.Second, "Len during a filtered scan", func() { require.Equal(t, f.n(), g.Len()) })
	within(t, 10*time.Second, "another filtered search", func() {
		res, err := g.Search(f.query(1), 2, 0, roaring.BitmapOf(10, 11, 12))
		require.NoError(t, err)
		require.Len(t, res, 2)
	})
	close(a.release)
	res := <-found
	require.Len(t, res, 3)
	for _, r := range res {
		require.Contains(t, []uint32{1, 2, 3, 4, 5}, r.Key)
	}
}

// TestCompactStep: a cycle advances in bounded steps, reclaims exactly the
// tombstones of its start, and its final step waits for the searches in
// flight without blocking new searches or writes.
func TestCompactStep(t *testing.T) {
	f := newFixture(13, 1500, 50, 16)
	g := build(t, f, Config{Metric: L2, M: 8, EfConstruction: 60, Seed: 2})
	_, done := g.CompactStep(100)
	require.True(t, done, "no tombstone: nothing to do")
	for i := 0; i < f.n(); i += 3 {
		require.NoError(t, g.Delete(uint32(i)))
	}
	doomed := g.Stats().Deleted
	steps := 0
	for {
		reclaimed, done := g.CompactStep(100)
		steps++
		if done {
			require.Equal(t, doomed, reclaimed)
			break
		}
		require.Zero(t, reclaimed)
		require.True(t, g.Stats().Compacting)
		// Writes go on between steps; a tombstone made now waits for the
		// next cycle.
		if steps == 3 {
			require.NoError(t, g.Delete(1))
			require.NoError(t, g.Add(1<<20, far(f.dim, 1)))
		}
	}
	require.Equal(t, (f.n()+99)/100, steps, "one step per 100 slots")
	st := g.Stats()
	require.False(t, st.Compacting)
	require.Equal(t, 1, st.Deleted)
	require.EqualValues(t, 1, st.Compactions)
	require.EqualValues(t, doomed, st.Reclaimed)
	checkInvariants(t, g)

	// A search in flight (held in the grace guard here) delays the final
	// step, not searches or writes that begin after it.
	_, done = g.CompactStep(1) // begins a cycle over key 1's tombstone
	require.False(t, done)
	tok := g.grace.enter()
	final := make(chan int, 1)
	go func() {
		n, done := g.CompactStep(1 << 20)
		if !done {
			panic("the cycle did not end")
		}
		final <- n
	}()
	within(t, 10*time.Second, "writes and searches during the final step", func() {
		require.NoError(t, g.Add(1<<21, far(f.dim, 2)))
		require.NoError(t, g.Delete(4))
		_, err := g.Search(f.query(0), 10, 0, nil)
		require.NoError(t, err)
	})
	select {
	case <-final:
		t.Fatal("the final step freed slots while a search could still hold one")
	case <-time.After(20 * time.Millisecond):
	}
	g.grace.exit(tok)
	require.Equal(t, 1, <-final)
	g.Compact()
	checkInvariants(t, g)
	keep := func(k uint32) bool { return k%3 != 0 && k != 1 && k != 4 }
	require.GreaterOrEqual(t, recall(t, g, f, 10, 64, nil, keep), 0.95)
}

func TestKeyMap(t *testing.T) {
	var m keyMap
	rng := rand.New(rand.NewPCG(3, 3))
	want := map[uint32]NodeID{}
	for i := range 3000 {
		k := rng.Uint32()
		if i%2 == 0 {
			k = uint32(i) // dense keys too
		}
		want[k] = NodeID(i)
		m.set(k, NodeID(i))
	}
	for k := range want {
		if rng.IntN(4) == 0 {
			m.remove(k)
			delete(want, k)
		}
	}
	m.remove(1 << 31) // absent: a no-op
	for k, id := range want {
		got, ok := m.get(k)
		require.True(t, ok)
		require.Equal(t, id, got)
	}
	n := 0
	last := int64(-1)
	m.each(func(k uint32, id NodeID) {
		require.Greater(t, int64(k), last, "each is in key order")
		last = int64(k)
		require.Equal(t, want[k], id)
		n++
	})
	require.Equal(t, len(want), n)
	_, ok := m.get(0xfffffff0)
	require.False(t, ok)
}

var _ io.Writer = (*stallWriter)(nil)

// far is a vector far from the fixtures' clusters, so that adding it does
// not change any query's true neighbours.
func far(dim int, i int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = 100 + float32(i)
	}
	return v
}
