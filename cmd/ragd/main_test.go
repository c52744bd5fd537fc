package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestApplyEnv(t *testing.T) {
	cmd := newRootCmd(io.Discard)
	fs := cmd.Flags()
	require.NoError(t, fs.Parse([]string{"--grpc-addr", "127.0.0.1:1"}))
	env := map[string]string{
		"RAGD_HTTP_ADDR": "127.0.0.1:7", "RAGD_GRPC_ADDR": "127.0.0.1:2", "RAGD_MAX_K": "50",
		"RAGD_NO_EMBED_CACHE": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "otel:4317", "RAGD_LOG_LEVEL": "",
	}
	require.NoError(t, applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	get := func(name string) string { return fs.Lookup(name).Value.String() }
	require.Equal(t, "127.0.0.1:7", get("http-addr"))
	require.Equal(t, "127.0.0.1:1", get("grpc-addr"), "the command line wins")
	require.Equal(t, "50", get("max-k"))
	require.Equal(t, "true", get("no-embed-cache"))
	require.Equal(t, "otel:4317", get("otlp-endpoint"))
	require.Equal(t, "info", get("log-level"), "an empty variable is unset")

	err := applyEnv(newRootCmd(io.Discard).Flags(), func(k string) (string, bool) {
		if k == "RAGD_MAX_K" {
			return "many", true
		}
		return "", false
	})
	require.ErrorContains(t, err, `RAGD_MAX_K="many"`)
}

// ragdBinary builds the command once per test run.
func ragdBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ragd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// proc is a ragd process and what its JSON log said.
type proc struct {
	cmd   *exec.Cmd
	addr  string
	lines chan map[string]any
	done  chan error
}

func startRagd(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, lines: make(chan map[string]any, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines <- m
			} else {
				p.lines <- map[string]any{"msg": sc.Text()}
			}
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// waitFor reads log lines until one has msg, and returns it.
func (p *proc) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			require.True(t, ok, "ragd exited before logging %q", msg)
			if m["msg"] == msg {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q in the log", msg)
		}
	}
}

func (p *proc) post(t *testing.T, path, body string) string {
	t.Helper()
	resp, err := http.Post("http://"+p.addr+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	return string(b)
}

// TestProcess runs the real binary: configured by flags and RAGD_*
// variables, killed with SIGKILL after an acknowledged write (which
// survives), stopped with SIGTERM (exit 0, index closed).
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := ragdBinary(t)
	dir := t.TempDir()
	env := []string{"RAGD_LOG_FORMAT=json", "RAGD_EMBEDDER=hash", "RAGD_GRPC_ADDR=127.0.0.1:0"}
	start := func() *proc {
		p := startRagd(t, bin, env, "--data", dir, "--http-addr", "127.0.0.1:0")
		p.addr = p.waitFor(t, "listening")["http"].(string)
		p.waitFor(t, "ready")
		return p
	}
	p := start()
	p.post(t, "/v1/collections", `{"name":"c"}`)
	p.post(t, "/v1/collections/c/documents", `{"documents":[{"id":"kept","text":"acknowledged before the crash"}]}`)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done

	p = start()
	out := p.post(t, "/v1/collections/c/search", `{"query":"acknowledged crash","mode":"text"}`)
	require.Contains(t, out, `"kept"`)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.waitFor(t, "stopped")
	select {
	case err := <-p.done:
		require.NoError(t, err, "exit status after SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("ragd did not exit after SIGTERM")
	}
}

// TestRefusesOpenWithoutKeys: a non-loopback address without API keys is
// refused at start, naming the way out.
func TestRefusesOpenWithoutKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := ragdBinary(t)
	out, err := exec.Command(bin, "--data", t.TempDir(), "--http-addr", "0.0.0.0:0", "--grpc-addr", "127.0.0.1:0").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "--allow-unauthenticated")
}
