package index

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	crashChildEnv   = "RAGD_INDEX_CRASH_DIR"
	crashStartEnv   = "RAGD_INDEX_CRASH_START"
	crashCollection = "crash"
	crashDim        = 16
	crashBatchSize  = 8
)

// crashBatch is batch b of the crash test: new documents b<b>-<i>, and a
// replacement of document 1 of batch b−2 (so replays see updates too).
func crashBatch(b int) []Document {
	docs := make([]Document, 0, crashBatchSize+1)
	for i := range crashBatchSize {
		docs = append(docs, crashDoc(b, i, b))
	}
	if b >= 2 {
		docs = append(docs, crashDoc(b-2, 1, b))
	}
	return docs
}

// crashDoc is document i of batch b as written by batch version.
func crashDoc(b, i, version int) Document {
	rng := rand.New(rand.NewPCG(uint64(b), uint64(i)<<32|uint64(version)))
	v := make([]float32, crashDim)
	for j := range v {
		v[j] = float32(rng.NormFloat64())
	}
	return Document{
		ID:       fmt.Sprintf("b%d-%d", b, i),
		Text:     fmt.Sprintf("common words here tokb%dx%d ver%d", b, i, version),
		Vector:   v,
		Metadata: map[string]any{"batch": b, "version": version},
	}
}

// crashChild is the child process: it upserts batches from $RAGD_INDEX_CRASH_START
// on and prints "ack N" after each batch is acknowledged, until killed.
func crashChild() {
	dir := os.Getenv(crashChildEnv)
	start, _ := strconv.Atoi(os.Getenv(crashStartEnv))
	// Snapshots and compactions (of the replaced documents' tombstones) run
	// all the time, so that kills land in them too.
	ix, err := Open(dir, Config{SnapshotInterval: 20 * time.Millisecond, CompactMinTombstones: 4, CompactTombstoneRatio: 0.01})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	c, err := ix.Collection(crashCollection)
	if err != nil {
		c, err = ix.CreateCollection(ctx, CollectionConfig{Name: crashCollection, Dimension: crashDim, Metric: L2, Shards: 2, HNSW: HNSWConfig{M: 8, EfConstruction: 64}})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
	}
	fmt.Println("ready")
	for b := start; ; b++ {
		if _, err := c.Upsert(ctx, crashBatch(b)); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("ack", b)
	}
}

// TestCrashSafety kills a writing process with SIGKILL at random moments,
// 20 times, and checks after each kill that every acknowledged document is
// present, current, and searchable by vector and by text, and that store,
// graph and text index agree.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped in -short")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(42, 42))
	acked := -1 // highest acknowledged batch; batches are acknowledged in order
	next := 0
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashStartEnv+"="+strconv.Itoa(next))
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Let it start (recovery included), then kill it at a random moment.
		require.Equal(t, "ready", <-lines, "child did not start")
		deadline := time.After(time.Duration(20+rng.IntN(250)) * time.Millisecond)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if b, found := strings.CutPrefix(l, "ack "); found {
					n, _ := strconv.Atoi(b)
					require.Equal(t, acked+1, n, "acks out of order")
					acked = n
				} else {
					t.Fatalf("child: %s", l)
				}
			case <-deadline:
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				deadline = nil
			}
		}
		_ = cmd.Wait()
		// The batch after the last ack may or may not have committed.
		verifyCrash(t, dir, acked, round == 19)
		next = acked + 1
	}
	t.Logf("20 kills, %d batches acknowledged", acked+1)
	require.Greater(t, acked, 20, "the child made too little progress to test anything")
}

// verifyCrash reopens the index and checks the acknowledged batches: all of
// them when full, else the last few and a sample.
func verifyCrash(t *testing.T, dir string, acked int, full bool) {
	t.Helper()
	if acked < 0 {
		return
	}
	ix, err := Open(dir, Config{SnapshotInterval: -1})
	require.NoError(t, err)
	defer func() { require.NoError(t, ix.Close()) }()
	c, err := ix.Collection(crashCollection)
	require.NoError(t, err)
	checkConsistent(t, c)
	batches := []int{}
	for b := max(0, acked-3); b <= acked; b++ {
		batches = append(batches, b)
	}
	if full {
		batches = batches[:0]
		for b := 0; b <= acked; b++ {
			batches = append(batches, b)
		}
	} else {
		for range 5 {
			batches = append(batches, rand.IntN(acked+1))
		}
	}
	for _, b := range batches {
		for i := range crashBatchSize {
			// Document i of batch b was last written by batch b, or by b+2
			// for i = 1 — acknowledged, or the unacknowledged batch after
			// the last ack, which may have committed.
			versions := []int{b}
			if i == 1 && b+2 <= acked {
				versions = []int{b + 2}
			} else if i == 1 && b+2 == acked+1 {
				versions = []int{b, b + 2}
			}
			id := fmt.Sprintf("b%d-%d", b, i)
			d, err := c.Get(ctx, id, true)
			require.NoError(t, err, "acknowledged document %s lost", id)
			var want Document
			found := false
			for _, v := range versions {
				if w := crashDoc(b, i, v); w.Text == d.Text {
					want, found = w, true
				}
			}
			require.True(t, found, "document %s has text %q, want version %v", id, d.Text, versions)
			require.Equal(t, want.Vector, d.Vector)
			res, err := c.Search(ctx, SearchRequest{Vector: want.Vector, K: 1, Ef: 200})
			require.NoError(t, err)
			require.Equal(t, id, res.Hits[0].ID, "not found by its vector")
			res, err = c.Search(ctx, SearchRequest{Text: fmt.Sprintf("tokb%dx%d", b, i), K: 1})
			require.NoError(t, err)
			require.NotEmpty(t, res.Hits, "%s not found by text", id)
			require.Equal(t, id, res.Hits[0].ID, "not found by text")
		}
	}
}
