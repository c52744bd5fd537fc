// Package lint checks the import direction of DESIGN.md: which of ragd's
// packages may import which, and which third-party modules the low layers
// may depend on. The check runs as a test (lint_test.go) over `go list`.
package lint

import (
	"fmt"
	"slices"
	"strings"
)

// Module is ragd's module path.
const Module = "github.com/ragd/ragd"

// Package is what the check needs of `go list -json`.
type Package struct {
	ImportPath   string
	Imports      []string // direct imports, tests excluded
	Deps         []string // transitive imports, tests excluded
	TestImports  []string // imports of the package's _test.go files
	XTestImports []string // imports of its external (package x_test) test files
	Standard     bool
}

// testSupport are the packages any test may import: oracles and readers
// of test data.
var testSupport = []string{"internal/testutil", "internal/texmex", "internal/beir"}

// testMayImport reports whether the tests of package rel (whose rule is r)
// may import irel: what the package itself may import and what lies
// under it (a fake such as embed/openaitest or rag/chattest, or embed/local
// for ingest's tokenizer tests), the package itself and its subpackages,
// and the test-support packages. Never a package above it: the tests keep
// the import direction too.
func testMayImport(rel string, r Rule, irel string) bool {
	if irel == rel || strings.HasPrefix(irel, rel+"/") || slices.Contains(testSupport, irel) || matches(r.Internal, irel) {
		return true
	}
	for _, p := range r.Internal {
		if p != "*" && !strings.HasSuffix(p, "/...") && strings.HasPrefix(irel, p+"/") {
			return true
		}
	}
	return false
}

// Rule says what one package (a module-relative path; a trailing "/..."
// covers the subtree) may import.
type Rule struct {
	// Internal lists the module-relative packages it may import directly;
	// "*" allows every package except cmd and bench ones.
	Internal []string
	// External lists the third-party module path prefixes its transitive
	// dependencies may come from; nil means the standard library only,
	// "*" allows anything.
	External []string
}

// lowInternal are the helper packages anyone may import.
var lowInternal = []string{"internal/fsutil", "internal/testutil", "internal/invariants"}

// Rules is the import map of DESIGN.md.
var Rules = map[string]Rule{
	"simd": {External: []string{"golang.org/x/sys", "github.com/viterin/vek", "github.com/viterin/partial", "golang.org/x/exp"}},
	"hnsw": {Internal: append([]string{"flat", "simd"}, lowInternal...),
		External: []string{"golang.org/x/sys", "github.com/viterin/vek", "github.com/viterin/partial", "golang.org/x/exp"}},
	// flat is the exact batch engine over simd; flat/cuda loads the
	// optional CUDA library at run time (purego, under the gpu build tag).
	"flat": {Internal: append([]string{"simd"}, lowInternal...),
		External: []string{"golang.org/x/sys", "github.com/viterin/vek", "github.com/viterin/partial", "golang.org/x/exp"}},
	"flat/...": {Internal: append([]string{"flat", "simd"}, lowInternal...),
		External: []string{"golang.org/x/sys", "github.com/viterin/vek", "github.com/viterin/partial", "golang.org/x/exp", "github.com/ebitengine/purego"}},
	"index/store":         {Internal: lowInternal, External: []string{"go.etcd.io/bbolt", "golang.org/x/sys"}},
	"index/text/...":      {Internal: lowInternal, External: []string{"*"}},
	"index/filter":        {Internal: lowInternal, External: []string{"github.com/RoaringBitmap/roaring", "github.com/bits-and-blooms/bitset", "github.com/mschoch/smat", "golang.org/x/sys"}},
	"index":               {Internal: append([]string{"hnsw", "flat", "index/text", "index/store", "index/filter", "simd"}, lowInternal...), External: []string{"*"}},
	"embed/...":           {Internal: append([]string{"embed/...", "simd"}, lowInternal...), External: []string{"*"}},
	"ingest/...":          {Internal: append([]string{"embed"}, lowInternal...), External: []string{"*"}},
	"rag/...":             {Internal: append([]string{"index", "embed"}, lowInternal...), External: []string{"*"}},
	"cluster/...":         {Internal: append([]string{"index"}, lowInternal...), External: []string{"*"}},
	"server/...":          {Internal: append([]string{"cluster", "rag", "index", "index/filter", "embed/...", "api/ragv1"}, lowInternal...), External: []string{"*"}},
	"api/ragv1/...":       {External: []string{"*"}},
	"internal/fsutil":     {},
	"internal/testutil":   {},
	"internal/invariants": {},
	"internal/texmex":     {Internal: []string{"internal/fsutil"}},
	"internal/beir":       {Internal: []string{"internal/fsutil"}},
	"internal/lint":       {External: []string{"*"}},
	// The commands may use any library package; DESIGN.md lists the usual
	// ones, and `ragctl bench ann` drives hnsw directly.
	"cmd/...": {Internal: []string{"*"}, External: []string{"*"}},
	// Benchmarks may import anything but the commands.
	"bench/...": {Internal: []string{"*", "bench/..."}, External: []string{"*"}},
}

// ruleFor finds the rule of a module-relative package path.
func ruleFor(rel string) (Rule, bool) {
	if r, ok := Rules[rel]; ok {
		return r, true
	}
	for pat, r := range Rules {
		if base, ok := strings.CutSuffix(pat, "/..."); ok && (rel == base || strings.HasPrefix(rel, base+"/")) {
			return r, true
		}
	}
	return Rule{}, false
}

func matches(pats []string, rel string) bool {
	for _, p := range pats {
		if p == rel {
			return true
		}
		if base, ok := strings.CutSuffix(p, "/..."); ok && (rel == base || strings.HasPrefix(rel, base+"/")) {
			return true
		}
		if p == "*" && !strings.HasPrefix(rel, "cmd/") && rel != "cmd" && !strings.HasPrefix(rel, "bench/") && rel != "bench" {
			return true
		}
	}
	return false
}

// Check returns one message per forbidden edge among pkgs.
func Check(pkgs []Package) []string {
	std := map[string]bool{}
	for _, p := range pkgs {
		if p.Standard {
			std[p.ImportPath] = true
		}
	}
	var problems []string
	for _, p := range pkgs {
		rel, ok := relPath(p.ImportPath)
		if !ok {
			continue
		}
		rule, ok := ruleFor(rel)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: package not in the import map; add it to DESIGN.md and internal/lint", rel))
			continue
		}
		for _, imp := range p.Imports {
			irel, ok := relPath(imp)
			if !ok {
				continue
			}
			if !matches(rule.Internal, irel) {
				problems = append(problems, fmt.Sprintf("%s imports %s: forbidden by DESIGN.md's import direction", rel, irel))
			}
		}
		for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			irel, ok := relPath(imp)
			if !ok {
				continue
			}
			if !testMayImport(rel, rule, irel) {
				problems = append(problems, fmt.Sprintf("%s's tests import %s: forbidden by DESIGN.md's import direction", rel, irel))
			}
		}
		if slices.Contains(rule.External, "*") {
			continue
		}
		for _, dep := range p.Deps {
			if _, internal := relPath(dep); internal || std[dep] || isStd(dep) {
				continue
			}
			allowed := false
			for _, prefix := range rule.External {
				if dep == prefix || strings.HasPrefix(dep, prefix+"/") {
					allowed = true
					break
				}
			}
			if !allowed {
				problems = append(problems, fmt.Sprintf("%s depends on %s: only %v allowed", rel, dep, rule.External))
			}
		}
	}
	slices.Sort(problems)
	return slices.Compact(problems)
}

func relPath(importPath string) (string, bool) {
	if importPath == Module {
		return "", true
	}
	return strings.CutPrefix(importPath, Module+"/")
}

// isStd reports a standard-library path: no dot in its first element.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
