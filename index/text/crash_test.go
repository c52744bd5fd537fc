package text

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const crashChildEnv = "RAGD_TEXT_CRASH_DIR"

// crashBatch is batch b (from 1) of the crash test: ten new documents
// numbered 10b … 10b+9 and a new text for document 10(b−1), so every
// state holds exactly 10·seq documents.
func crashBatch(b int) []Doc {
	var docs []Doc
	for i := range 10 {
		docs = append(docs, Doc{Num: uint32(10*b + i), Text: crashText(b, i)})
	}
	if b > 1 {
		docs = append(docs, Doc{Num: uint32(10 * (b - 1)), Text: crashText(b, 99)})
	}
	return docs
}

func crashText(b, i int) string {
	return strings.Repeat(fmt.Sprintf("wing%d flow%d ", i, b%7), 1+(b+i)%9)
}

// crashChild applies batches until killed, printing "flushed N" after
// every fifth batch has been flushed.
func crashChild() {
	ix, err := Open(os.Getenv(crashChildEnv), Config{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for b := 1; ; b++ {
		if err := ix.Apply(uint64(b), crashBatch(b), nil); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		if b%5 == 0 {
			if err := ix.Flush(); err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
			fmt.Println("flushed", b)
		}
	}
}

// TestCrash kills a process that applies batches (kill -9) at several
// points: the folder opens with every flushed batch, a whole number of
// batches and consistent bookkeeping.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, at := range []int{5, 20, 60} {
		t.Run(strconv.Itoa(at), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "text")
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			sc := bufio.NewScanner(out)
			flushed := 0
			for flushed < at && sc.Scan() {
				line := sc.Text()
				require.False(t, strings.HasPrefix(line, "error"), line)
				if n, ok := strings.CutPrefix(line, "flushed "); ok {
					flushed, err = strconv.Atoi(n)
					require.NoError(t, err)
				}
			}
			time.Sleep(time.Duration(at%7) * time.Millisecond) // let it run on a little
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			require.GreaterOrEqual(t, flushed, at)

			ix := openDirT(t, dir, Config{})
			seq := ix.Seq()
			t.Logf("flushed %d, found %d", flushed, seq)
			require.GreaterOrEqual(t, seq, uint64(flushed))
			n, err := ix.Count()
			require.NoError(t, err)
			require.Equal(t, 10*seq, n, "a whole number of batches")
			checkInvariants(t, ix)
			// The index carries on from there.
			require.NoError(t, ix.Apply(seq+1, crashBatch(int(seq+1)), nil))
			checkInvariants(t, ix)
		})
	}
}
