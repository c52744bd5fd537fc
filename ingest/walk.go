package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// WalkConfig configures Walk.
type WalkConfig struct {
	// Root is what sources are relative to. Default: the current
	// directory for inputs under it, else each input folder itself (a
	// file's parent folder for a file).
	Root string
	// Include keeps only files matching one of these globs (doublestar
	// syntax: *, ?, [..], {a,b}, **); a glob without a slash matches the
	// file's name, one with a slash its source path. Empty keeps all.
	Include []string
	// Exclude drops files and folders matching one of these globs, as
	// Include matches them.
	Exclude []string
	// NoIgnoreFiles stops Walk from honouring .gitignore and .ragignore
	// files (those in the walked folders and in their parents up to the
	// git repository's top). Default false: they are honoured.
	NoIgnoreFiles bool
	// Hidden walks files and folders whose names start with a dot.
	// Default false: they are skipped (.git among them).
	Hidden bool
}

// Validate reports the first invalid glob.
func (c WalkConfig) Validate() error {
	for _, g := range append(slices.Clone(c.Include), c.Exclude...) {
		if !doublestar.ValidatePattern(g) {
			return fmt.Errorf("%w: glob %q is malformed", ErrInvalidConfig, g)
		}
	}
	return nil
}

// File is one input file Walk found.
type File struct {
	// Path opens it.
	Path string
	// Source names it in the collection: its path relative to the root,
	// slash-separated.
	Source string
	// Size in bytes.
	Size int64
}

// ignoreFiles are the files of ignore patterns, read in each folder.
var ignoreFiles = []string{".gitignore", ".ragignore"}

// Walk calls fn with every file of the inputs (files or folders, walked
// recursively in lexical order), skipping hidden entries, files that
// .gitignore and .ragignore exclude, and files Include and Exclude leave
// out. A file named as an input is taken even when hidden or ignored
// (Include and Exclude still apply), as git and ripgrep do. Symbolic links
// to files are followed; links to folders are not (no cycles). An input
// that does not exist is an error; fn's error stops the walk.
func Walk(inputs []string, cfg WalkConfig, fn func(File) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("ingest: walk: %w", err)
	}
	for _, in := range inputs {
		abs, err := filepath.Abs(in)
		if err != nil {
			return fmt.Errorf("ingest: walk %s: %w", in, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("ingest: walk: %w", err)
		}
		root := cfg.Root
		switch {
		case root != "":
			if root, err = filepath.Abs(root); err != nil {
				return fmt.Errorf("ingest: walk: root %s: %w", cfg.Root, err)
			}
		case within(cwd, abs):
			root = cwd
		case fi.IsDir():
			root = abs
		default:
			root = filepath.Dir(abs)
		}
		if !within(root, abs) {
			return fmt.Errorf("ingest: walk: %s is outside the root %s", in, root)
		}
		w := &walker{cfg: cfg, root: root, fn: fn}
		if !fi.IsDir() {
			if err := w.file(abs, fi, true); err != nil {
				return err
			}
			continue
		}
		if !cfg.NoIgnoreFiles {
			w.loadParents(abs)
		}
		if err := w.dir(abs); err != nil {
			return err
		}
	}
	return nil
}

// within reports whether path is dir or under it (both absolute, clean).
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

type walker struct {
	cfg      WalkConfig
	root     string
	base     string // what ignore patterns' paths are relative to
	patterns []gitignore.Pattern
	fn       func(File) error
}

// loadParents reads the ignore files of dir's parents up to the git
// repository's top, if dir is inside one; patterns match paths relative to
// that top (else to dir).
func (w *walker) loadParents(dir string) {
	w.base = dir
	var parents []string
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		parents = append(parents, d)
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			w.base = d
			break
		}
		if filepath.Dir(d) == d {
			parents = nil // no repository: parents' ignore files do not apply
			break
		}
	}
	for i := len(parents) - 1; i >= 0; i-- {
		w.readIgnore(parents[i])
	}
}

// components is p relative to the ignore base, split at slashes.
func (w *walker) components(p string) []string {
	rel, err := filepath.Rel(w.base, p)
	if err != nil || rel == "." {
		return nil
	}
	return strings.Split(filepath.ToSlash(rel), "/")
}

func (w *walker) readIgnore(dir string) {
	for _, name := range ignoreFiles {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		domain := w.components(dir)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSuffix(sc.Text(), "\r")
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			w.patterns = append(w.patterns, gitignore.ParsePattern(line, domain))
		}
		_ = f.Close()
	}
}

func (w *walker) ignored(p string, isDir bool) bool {
	if len(w.patterns) == 0 {
		return false
	}
	return gitignore.NewMatcher(w.patterns).Match(w.components(p), isDir)
}

func (w *walker) source(p string) string {
	rel, err := filepath.Rel(w.root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(rel)
}

func matchGlob(g, source string) bool {
	name := source
	if !strings.Contains(g, "/") {
		name = path.Base(source)
	}
	ok, _ := doublestar.Match(g, name) // validated
	return ok
}

func (w *walker) excluded(source string) bool {
	for _, g := range w.cfg.Exclude {
		if matchGlob(g, source) {
			return true
		}
	}
	return false
}

func (w *walker) included(source string) bool {
	if len(w.cfg.Include) == 0 {
		return true
	}
	for _, g := range w.cfg.Include {
		if matchGlob(g, source) {
			return true
		}
	}
	return false
}

// dir walks a folder: its ignore files first, then its entries in order.
func (w *walker) dir(dir string) error {
	saved := len(w.patterns)
	defer func() { w.patterns = w.patterns[:saved] }()
	if !w.cfg.NoIgnoreFiles {
		w.readIgnore(dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("ingest: walk: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !w.cfg.Hidden && strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil || fi.IsDir() {
				continue // a dangling link, or a link to a folder
			}
			if err := w.file(p, fi, false); err != nil {
				return err
			}
			continue
		}
		if e.IsDir() {
			if w.ignored(p, true) || w.excluded(w.source(p)) {
				continue
			}
			if err := w.dir(p); err != nil {
				return err
			}
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("ingest: walk: %w", err)
		}
		if err := w.file(p, fi, false); err != nil {
			return err
		}
	}
	return nil
}

// file reports one file; explicit says it was named as an input.
func (w *walker) file(p string, fi fs.FileInfo, explicit bool) error {
	src := w.source(p)
	if !explicit && w.ignored(p, false) {
		return nil
	}
	if w.excluded(src) || !w.included(src) {
		return nil
	}
	return w.fn(File{Path: p, Source: src, Size: fi.Size()})
}
