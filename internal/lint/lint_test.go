package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportDirection runs the check over the real module.
func TestImportDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-test=false", "-json=ImportPath,Imports,Deps,TestImports,XTestImports,Standard", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		pkgs = append(pkgs, p)
	}
	require.NotEmpty(t, pkgs)
	for _, p := range Check(pkgs) {
		t.Error(p)
	}
}

// TestCheckFindsForbiddenEdges proves the check can fail.
func TestCheckFindsForbiddenEdges(t *testing.T) {
	m := func(rel string) string { return Module + "/" + rel }
	cases := []struct {
		name string
		pkgs []Package
		want int
	}{
		{"simd imports hnsw", []Package{{ImportPath: m("simd"), Imports: []string{m("hnsw")}}}, 1},
		{"hnsw imports index", []Package{{ImportPath: m("hnsw"), Imports: []string{m("index")}}}, 1},
		{"library imports cmd", []Package{{ImportPath: m("index"), Imports: []string{m("cmd/ragctl")}}}, 1},
		{"server imports bench", []Package{{ImportPath: m("server"), Imports: []string{m("bench/load")}}}, 1},
		{"simd depends on a stranger", []Package{{ImportPath: m("simd"), Deps: []string{"github.com/evil/fast"}}}, 1},
		{"unknown package", []Package{{ImportPath: m("utils")}}, 1},
		{"index's tests import server", []Package{{ImportPath: m("index"), TestImports: []string{m("server")}}}, 1},
		{"simd's external tests import hnsw", []Package{{ImportPath: m("simd"), XTestImports: []string{m("hnsw")}}}, 1},
		{"ingest's tests import index", []Package{{ImportPath: m("ingest"), TestImports: []string{m("index")}}}, 1},
		{"allowed edges", []Package{
			{ImportPath: m("hnsw"), Imports: []string{m("simd"), m("internal/fsutil"), "sync"}, Deps: []string{"golang.org/x/sys/cpu", "sync"}},
			{ImportPath: m("simd"), Deps: []string{"github.com/viterin/vek/vek32"}},
			{ImportPath: m("cmd/ragctl"), Imports: []string{m("hnsw"), "github.com/spf13/cobra"}},
			{ImportPath: m("bench/prepare"), Imports: []string{m("simd")}},
			{ImportPath: m("ingest"), TestImports: []string{m("embed/local"), m("ingest"), m("internal/testutil")}},
			{ImportPath: m("server"), TestImports: []string{m("rag/chattest"), m("embed/openaitest")}, XTestImports: []string{m("server")}},
			{ImportPath: m("hnsw"), TestImports: []string{m("internal/texmex")}},
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Len(t, Check(c.pkgs), c.want, "%v", Check(c.pkgs))
		})
	}
}
