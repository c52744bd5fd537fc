package store

import (
	"bufio"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The crash test runs a child process (this test binary, running
// TestHelperProcess) that writes to a store with fsync on and reports every
// acknowledged Apply on stdout, kills it with SIGKILL at a random moment,
// and checks the reopened store against what was acknowledged.

const (
	envCrashPath  = "RAGD_STORE_CRASH_PATH"
	envCrashRound = "RAGD_STORE_CRASH_ROUND"
	crashWriters  = 4  // concurrent writers in the child, so rounds are group commits
	crashIDs      = 40 // each writer's ids: w<w>-k<0..39>
	crashRounds   = 24
)

// crashBatch returns batch n of writer w in round round: a deterministic
// function of its arguments, so the parent rebuilds what the child applied.
func crashBatch(round, w, n int) []Op {
	rng := rand.New(rand.NewPCG(uint64(round)<<32|uint64(w), uint64(n)))
	ops := make([]Op, 1+rng.IntN(8))
	for i := range ops {
		id := fmt.Sprintf("w%d-k%d", w, rng.IntN(crashIDs))
		if rng.IntN(4) == 0 {
			ops[i] = Op{Kind: OpDelete, ID: id}
			continue
		}
		vec := make([]float32, 16)
		for j := range vec {
			vec[j] = rng.Float32()
		}
		ops[i] = Op{Kind: OpPut, Doc: Doc{
			ID:       id,
			Text:     fmt.Sprintf("round %d writer %d batch %d op %d ", round, w, n, i) + strings.Repeat("x", rng.IntN(3000)),
			Metadata: fmt.Appendf(nil, `{"n":%d}`, n),
			Vector:   vec,
			Source:   "crash",
			Chunk:    int32(i),
		}}
	}
	return ops
}

// TestHelperProcess is the child of TestCrashRecovery; it does nothing in a
// normal test run.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(envCrashPath)
	if path == "" {
		t.Skip("run by TestCrashRecovery only")
	}
	round, _ := strconv.Atoi(os.Getenv(envCrashRound))
	s, err := Open(path, Config{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Printf("error open: %v\n", err)
		os.Exit(3)
	}
	fmt.Println("open")
	deadline := time.Now().Add(30 * time.Second) // if the parent never kills us
	for w := range crashWriters {
		go func() {
			for n := 0; time.Now().Before(deadline); n++ {
				ch, err := s.Apply(t.Context(), crashBatch(round, w, n))
				if err != nil {
					fmt.Printf("error apply: %v\n", err)
					os.Exit(3)
				}
				var last uint64
				for _, c := range ch {
					last = max(last, c.Seq)
				}
				fmt.Printf("ack %d %d %d\n", w, n, last) // one write: lines never interleave
			}
		}()
	}
	time.Sleep(time.Until(deadline))
	os.Exit(4)
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]Doc{} // what the store must hold: id → doc (Num unset)
	var maxSeq uint64
	totalAcks, inFlightCommitted := 0, 0
	for round := range crashRounds {
		acked, lines := runAndKill(t, path, round, rng)
		totalAcks += len(lines)

		// Replay the acknowledged batches of each writer, in order.
		last := make([]int, crashWriters) // last acknowledged batch of each writer
		for w := range last {
			last[w] = -1
		}
		for _, a := range acked {
			require.Equal(t, last[a.w]+1, a.n, "round %d: writer %d acknowledged out of order", round, a.w)
			last[a.w] = a.n
			applyModel(model, crashBatch(round, a.w, a.n))
			maxSeq = max(maxSeq, a.seq)
		}

		s := openAt(t, path, Config{})
		actual := map[string]Doc{}
		for _, d := range allDocs(t, s) {
			actual[d.ID] = d
		}
		// The batch each writer had in flight was committed whole or not at
		// all; which one, the store says.
		for w := range crashWriters {
			withBatch := maps.Clone(model)
			applyModel(withBatch, crashBatch(round, w, last[w]+1))
			switch {
			case writerMatches(model, actual, w):
			case writerMatches(withBatch, actual, w):
				model = withBatch
				inFlightCommitted++
			default:
				t.Fatalf("round %d: writer %d: store holds neither the acknowledged state nor it plus the batch in flight", round, w)
			}
		}
		checkStore(t, s, model, maxSeq)
		require.NoError(t, s.Close())
	}
	require.Greater(t, totalAcks, 5*crashRounds, "the child made progress")
	t.Logf("%d rounds, %d acknowledged batches, %d committed but unacknowledged (or no-op), %d documents at the end, last seq ≥ %d",
		crashRounds, totalAcks, inFlightCommitted, len(model), maxSeq)
}

type ack struct {
	w, n int
	seq  uint64
}

// runAndKill runs the child on path for a random time, kills it with
// SIGKILL and returns the batches it acknowledged.
func runAndKill(t *testing.T, path string, round int, rng *rand.Rand) ([]ack, []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envCrashPath+"="+path, envCrashRound+"="+strconv.Itoa(round))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if round%6 == 5 {
		// Sometimes kill it while it opens the file.
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	} else {
		var opened bool
		for l := range lines {
			if l == "open" {
				opened = true
				break
			}
			require.False(t, strings.HasPrefix(l, "error"), l)
		}
		require.True(t, opened, "child exited before opening the store")
		time.Sleep(time.Duration(5+rng.IntN(60)) * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	var acks []ack
	var acklines []string
	for l := range lines {
		require.False(t, strings.HasPrefix(l, "error"), l)
		var a ack
		if _, err := fmt.Sscanf(l, "ack %d %d %d", &a.w, &a.n, &a.seq); err == nil {
			acks = append(acks, a)
			acklines = append(acklines, l)
		}
	}
	_ = cmd.Wait() // "signal: killed"
	return acks, acklines
}

func applyModel(m map[string]Doc, ops []Op) {
	for _, op := range ops {
		switch op.Kind {
		case OpPut:
			m[op.Doc.ID] = op.Doc
		case OpDelete:
			delete(m, op.ID)
		}
	}
}

// writerMatches reports whether the store's documents of writer w are those
// of the model.
func writerMatches(model, actual map[string]Doc, w int) bool {
	for k := range crashIDs {
		id := fmt.Sprintf("w%d-k%d", w, k)
		want, inModel := model[id]
		got, inStore := actual[id]
		if inModel != inStore {
			return false
		}
		got.Num = 0
		if inModel && !docsEqual(want, got) {
			return false
		}
	}
	return true
}

func docsEqual(a, b Doc) bool {
	return a.ID == b.ID && a.Num == b.Num && a.Text == b.Text && string(a.Metadata) == string(b.Metadata) &&
		a.Source == b.Source && a.Chunk == b.Chunk && fmt.Sprint(a.Vector) == fmt.Sprint(b.Vector)
}

// checkStore checks the reopened store against the model and itself.
func checkStore(t *testing.T, s *Store, model map[string]Doc, maxSeq uint64) {
	t.Helper()
	docs := allDocs(t, s)
	require.Len(t, docs, len(model))
	n, err := s.Count()
	require.NoError(t, err)
	require.Equal(t, len(docs), n, "the document counter matches the documents")
	scanned, next, err := s.Scan("", 1<<30)
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, scanned, len(docs), "ids and docs agree")
	require.GreaterOrEqual(t, s.LastSeq(), maxSeq, "no acknowledged sequence is lost")

	// The change log is gap-free, and its last record of each ID says
	// whether and under which number the document exists.
	lastChange := map[string]Change{}
	var seq uint64
	require.NoError(t, s.Changes(0, func(c Change) error {
		seq++
		require.Equal(t, seq, c.Seq)
		lastChange[c.ID] = c
		return nil
	}))
	require.Equal(t, s.LastSeq(), seq)
	for _, d := range docs {
		c := lastChange[d.ID]
		require.Equal(t, OpPut, c.Kind, d.ID)
		require.Equal(t, d.Num, c.Num, d.ID)
	}
	for id, c := range lastChange {
		if c.Kind == OpDelete {
			_, ok := model[id]
			require.False(t, ok, id)
		}
	}
}
