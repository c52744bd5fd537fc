package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds ragd and ragctl once per test run (without -race: these
// tests are about processes).
func binaries(t *testing.T) (ragd, ragctl string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ragctl-e2e-")
		if buildErr != nil {
			return
		}
		for _, p := range []string{"../ragd", "."} {
			name := filepath.Base(filepath.Clean(p))
			if p == "." {
				name = "ragctl"
			}
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), p).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", p, err, out)
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(binDir, "ragd"), filepath.Join(binDir, "ragctl")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// ragdProc is a real ragd process on free loopback ports.
type ragdProc struct {
	cmd        *exec.Cmd
	http, grpc string
}

func startRagdProc(t *testing.T, bin, dir string) *ragdProc {
	t.Helper()
	cmd := exec.Command(bin, "--data", dir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--embedder", "hash", "--log-format", "json", "--snapshot-interval", "-1s")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &ragdProc{cmd: cmd}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch m["msg"] {
		case "listening":
			p.http, p.grpc = m["http"].(string), m["grpc"].(string)
		case "ready":
			go func() {
				for sc.Scan() {
				}
			}()
			return p
		}
	}
	t.Fatalf("ragd exited before it was ready: %v", sc.Err())
	return nil
}

// run runs the ragctl binary and returns its exit code and outputs.
func runBin(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, out.String(), errb.String()
}

// goDocs is the Go blog and documentation when the team's shared copy is
// there, else the few pages of it in ingest/testdata.
func goDocs(t *testing.T) string {
	if dir := filepath.Join("..", "..", "..", "shared", "data", "docs", "go"); dirExists(dir) {
		return dir
	}
	return filepath.Join("..", "..", "ingest", "testdata")
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// TestEndToEndGoDocs ingests the Go docs into a real ragd process and
// into a data folder, and finds a known passage in the top 3 of each.
func TestEndToEndGoDocs(t *testing.T) {
	ragd, ragctl := binaries(t)
	docs := goDocs(t)
	srv := startRagdProc(t, ragd, t.TempDir())
	for name, global := range map[string][]string{
		"server":   {"--server", "http://" + srv.http, "--grpc-addr", srv.grpc},
		"embedded": {"--data", t.TempDir()},
	} {
		t.Run(name, func(t *testing.T) {
			args := append(append([]string{}, global...), "collections", "create", "go", "--embedder", "hash")
			code, _, stderr := runBin(t, ragctl, args...)
			require.Equal(t, 0, code, stderr)
			args = append(append([]string{}, global...), "ingest", docs, "--collection", "go", "--json", "--progress", "none")
			code, stdout, stderr := runBin(t, ragctl, args...)
			require.Contains(t, []int{0, 1}, code, stderr)
			var s ingestSummary
			require.NoError(t, json.Unmarshal([]byte(stdout), &s), stdout)
			t.Logf("%s: %d files, %d chunks, %d failed %v, %.1f s", name, s.FilesOK, s.ChunksWritten, s.FilesFailed, s.Failures[:min(5, len(s.Failures))], s.Seconds)
			require.Greater(t, s.FilesOK, 2)
			for _, f := range s.Failures {
				// The docs have pages that only redirect: front matter, no text.
				require.Contains(t, f.Error, "no text", f.Path)
			}
			args = append(append([]string{}, global...), "search", "the order in which deferred function calls are executed: last in, first out", "--collection", "go", "--k", "3", "--json")
			code, stdout, stderr = runBin(t, ragctl, args...)
			require.Equal(t, 0, code, stderr)
			var res struct {
				Results []struct {
					Text     string
					Metadata map[string]any
				}
			}
			require.NoError(t, json.Unmarshal([]byte(stdout), &res))
			found := false
			for _, r := range res.Results {
				if strings.HasSuffix(r.Metadata["source"].(string), "defer-panic-and-recover.md") && strings.Contains(r.Text, "Last In First Out") {
					found = true
				}
			}
			require.True(t, found, "the passage on LIFO order of deferred calls is not in the top 3: %s", stdout)
		})
	}
}

// scanAll returns every document of a collection as id → text and
// metadata, through a server's gRPC port.
func scanAll(t *testing.T, grpcAddr, coll string) map[string]string {
	t.Helper()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	cl := ragv1.NewDocumentsClient(conn)
	out := map[string]string{}
	cursor := ""
	for {
		page, err := cl.Scan(context.Background(), &ragv1.ScanDocumentsRequest{Collection: coll, Cursor: cursor, Limit: 1000})
		require.NoError(t, err)
		for _, d := range page.GetDocuments() {
			md, _ := json.Marshal(d.GetMetadata().AsMap())
			out[d.GetId()] = d.GetText() + "\x00" + string(md)
		}
		if page.GetNextCursor() == "" || len(page.GetDocuments()) == 0 {
			return out
		}
		cursor = page.GetNextCursor()
	}
}

// TestIngestKilled kills ragctl with SIGKILL in the middle of an ingest,
// runs it again, and checks that the collection ends as an uninterrupted
// ingest leaves it: same ids, texts and metadata. The files change between
// the first and the killed run, so that the killed run replaces chunks.
func TestIngestKilled(t *testing.T) {
	ragd, ragctl := binaries(t)
	srv := startRagdProc(t, ragd, t.TempDir())
	global := []string{"--server", "http://" + srv.http, "--grpc-addr", srv.grpc}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	write := func(version int) {
		for i := range 120 {
			var b strings.Builder
			fmt.Fprintf(&b, "# Note %d\n\n", i)
			n := 2 + r.IntN(30)
			if version == 2 && i%3 == 0 {
				n = 1 + r.IntN(5) // shorter: fewer chunks, old ones to delete
			}
			for p := range n {
				fmt.Fprintf(&b, "## Part %d\n\n%s\n\n", p, proseWords(r, 40+r.IntN(80)))
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%03d.md", i)), []byte(b.String()), 0o644))
		}
	}
	ingest := func(coll string, extra ...string) (int, string) {
		args := append(append([]string{}, global...), "ingest", dir, "--collection", coll, "--progress", "none", "--batch", "16", "--root", dir)
		code, _, stderr := runBin(t, ragctl, append(args, extra...)...)
		return code, stderr
	}
	for _, c := range []string{"killed", "clean"} {
		code, _, stderr := runBin(t, ragctl, append(append([]string{}, global...), "collections", "create", c, "--embedder", "hash", "--shards", "3")...)
		require.Equal(t, 0, code, stderr)
	}
	write(1)
	code, stderr := ingest("killed")
	require.Equal(t, 0, code, stderr)
	write(2)

	// Kill the ingest of the new version at a few moments; then finish.
	for _, after := range []time.Duration{150 * time.Millisecond, 400 * time.Millisecond, 900 * time.Millisecond} {
		cmd := exec.Command(ragctl, append(append([]string{}, global...), "ingest", dir, "--collection", "killed", "--progress", "none", "--batch", "16", "--root", dir)...)
		require.NoError(t, cmd.Start())
		time.Sleep(after)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	code, stderr = ingest("killed")
	require.Equal(t, 0, code, stderr)
	code, stderr = ingest("clean")
	require.Equal(t, 0, code, stderr)

	killed, clean := scanAll(t, srv.grpc, "killed"), scanAll(t, srv.grpc, "clean")
	require.Greater(t, len(clean), 300)
	require.Equal(t, len(clean), len(killed))
	for id, want := range clean {
		require.Equal(t, want, killed[id], "document %s", id)
	}
}

func proseWords(r *rand.Rand, n int) string {
	words := strings.Fields("otters rafts kelp urchins tides harbour seals currents dive fur warm cold shells stones clams forage pups sleep float drift")
	var b strings.Builder
	for i := range n {
		if i > 0 {
			if i%12 == 0 {
				b.WriteString(". ")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	b.WriteByte('.')
	return b.String()
}
