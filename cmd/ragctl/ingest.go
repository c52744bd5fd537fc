package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/local"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/ingest"
)

type ingestOptions struct {
	collection    string
	include       []string
	exclude       []string
	noIgnore      bool
	hidden        bool
	root          string
	chunkTokens   int
	overlap       int
	headingPrefix bool
	textField     string
	idField       string
	sync          bool
	batch         int
	workers       int
	uploaders     int
	json          bool
	maxFileBytes  int64
	stdinName     string
	progress      string
	// embedder, when set, embeds on the client and sends vectors.
	embedder embedOptions
}

func newIngestCmd(g *globals) *cobra.Command {
	var o ingestOptions
	cmd := &cobra.Command{
		Use:   "ingest PATH… --collection NAME",
		Short: "Load, chunk and upload files and folders into a collection, incrementally",
		Long: `Reads files and folders (recursively; - reads stdin), turns them into chunks sized for the
collection's embedder and uploads them, creating the collection with the server's defaults if
it does not exist.

Formats, by extension and content: plain text, Markdown (front matter becomes metadata,
headings give the structure), HTML (main text without navigation and scripts), PDF (text per
page) and JSONL (one document per line: --text-field, --id-field; other fields become
metadata). Unknown binary files are skipped and counted. Hidden files and folders are
skipped, and .gitignore and .ragignore files honoured (--hidden, --no-ignore); --include and
--exclude filter by glob (a glob without a slash matches the file name).

Chunks follow the document's structure (sections, paragraphs, sentences, words), fit
--chunk-tokens tokens of the embedder's own tokenizer (default: the embedder's window, at most
512; the built-in model reads 128) and overlap by --overlap tokens; each starts with its
title and heading path (--heading-prefix). Every chunk carries metadata source, title,
heading, chunk, offset, page (PDF) and hash, and an id made of its source and number, so a
re-run updates in place: unchanged files are skipped without embedding, changed files'
chunks replaced; --sync also deletes the chunks of files that are gone. Sources are paths
relative to --root (default: the current folder, or the input folder when it lies outside).

  ragctl ingest docs/ --collection docs
  ragctl ingest notes/ README.md --collection notes --include '*.md' --sync
  cat report.txt | ragctl ingest - --collection notes --stdin-name report.txt
  ragctl --data ./data ingest data.jsonl --collection products --text-field description`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.collection == "" {
				return usageErrorf("--collection is required")
			}
			if !cmd.Flags().Changed("overlap") {
				o.overlap = -1 // the default: an eighth of the chunk
			}
			return g.withClient(cmd, func(ctx context.Context, c client) error {
				return runIngest(ctx, c, o, args, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.collection, "collection", "c", "", "collection to fill (created if missing)")
	f.StringArrayVar(&o.include, "include", nil, "only files matching this glob (repeatable)")
	f.StringArrayVar(&o.exclude, "exclude", nil, "skip files and folders matching this glob (repeatable)")
	f.BoolVar(&o.noIgnore, "no-ignore", false, "do not honour .gitignore and .ragignore files")
	f.BoolVar(&o.hidden, "hidden", false, "also read hidden files and folders")
	f.StringVar(&o.root, "root", "", "folder the sources are relative to")
	f.IntVar(&o.chunkTokens, "chunk-tokens", 0, "tokens per chunk (default: the embedder's window, at most 512)")
	f.IntVar(&o.overlap, "overlap", 0, "tokens shared by consecutive chunks of a section (default: an eighth of --chunk-tokens)")
	f.BoolVar(&o.headingPrefix, "heading-prefix", true, "start each chunk with its title and heading path")
	f.StringVar(&o.textField, "text-field", "text", "JSONL: the field holding a line's text")
	f.StringVar(&o.idField, "id-field", "id", "JSONL: the field holding a line's id")
	f.BoolVar(&o.sync, "sync", false, "also delete the chunks of files that were ingested before and are not among the inputs now")
	f.IntVar(&o.batch, "batch", 100, "chunks per upload batch")
	f.IntVar(&o.workers, "workers", 0, "files loaded and chunked at once (default: the number of CPUs)")
	f.IntVar(&o.uploaders, "uploads", 2, "upload streams at once")
	f.BoolVar(&o.json, "json", false, "print a JSON summary: files_ok, files_skipped, files_failed, chunks_written, chunks_deleted, tokens, seconds, failures")
	f.Int64Var(&o.maxFileBytes, "max-file-bytes", ingest.DefaultMaxBytes, "larger files fail")
	f.StringVar(&o.stdinName, "stdin-name", "stdin", "source name (and format hint) of - (stdin)")
	f.StringVar(&o.progress, "progress", "auto", "auto (a bar on a terminal, lines otherwise), bar, lines or none")
	addEmbedFlags(f, &o.embedder)
	return cmd
}

// ingestSummary is --json's object; the keys are a contract.
type ingestSummary struct {
	FilesOK       int             `json:"files_ok"`
	FilesSkipped  int             `json:"files_skipped"`
	FilesFailed   int             `json:"files_failed"`
	ChunksWritten int             `json:"chunks_written"`
	ChunksDeleted int             `json:"chunks_deleted"`
	Tokens        int             `json:"tokens"`
	Seconds       float64         `json:"seconds"`
	Failures      []ingestFailure `json:"failures"`
}

type ingestFailure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// fileState is where a file stands.
type fileState int

const (
	filePending fileState = iota
	fileOK
	fileUnchanged
	fileUnsupported
	fileFailed
)

// fileJob is one input file through the pipeline.
type fileJob struct {
	file    ingest.File
	data    []byte // stdin's content; files are read by the worker
	records []ingest.Record
	hash    string
	tokens  int
	vectors [][]float32 // client-side embeddings, in records' order

	state fileState
	err   error
	// replaces says an earlier version's first chunk exists: the stale
	// delete removes it and the new one is written in its place.
	replaces bool
}

// marker is the record whose hash says the file was ingested completely:
// it is written last, after the other chunks and after the chunks of an
// earlier version are deleted.
func (j *fileJob) marker() ingest.Record { return j.records[0] }

// ingestRun is one ingest command's state.
type ingestRun struct {
	c       client
	o       ingestOptions
	coll    string
	chunk   ingest.ChunkConfig
	load    ingest.LoadConfig
	setting string
	fresh   bool // the collection was created by this run: nothing to compare with
	emb     embed.Embedder
	stderr  io.Writer

	written, deleted, tokens, done atomic.Int64
	prog                           *progress
}

func runIngest(ctx context.Context, c client, o ingestOptions, inputs []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	start := time.Now()
	if o.batch < 1 || o.batch > 1000 {
		return usageErrorf("--batch %d out of range [1, 1000]", o.batch)
	}
	if o.uploaders < 1 || o.uploaders > 16 {
		return usageErrorf("--uploads %d out of range [1, 16]", o.uploaders)
	}
	if o.workers == 0 {
		o.workers = max(2, numCPU())
	}
	switch o.progress {
	case "auto", "bar", "lines", "none":
	default:
		return usageErrorf("--progress %q: want auto, bar, lines or none", o.progress)
	}
	r := &ingestRun{c: c, o: o, coll: o.collection, stderr: stderr}
	if o.embedder.embedder != "" {
		e, release, err := newCLIEmbedder(o.embedder)
		if err != nil {
			return usageErrorf("--embedder: %v", err)
		}
		defer func() { err = errors.Join(err, release()) }()
		r.emb = e
	}
	coll, err := r.ensureCollection(ctx)
	if err != nil {
		return err
	}
	if err := r.configure(coll); err != nil {
		return err
	}

	// The inputs, walked first so that progress knows the total.
	var jobs []*fileJob
	wcfg := ingest.WalkConfig{Root: o.root, Include: o.include, Exclude: o.exclude, NoIgnoreFiles: o.noIgnore, Hidden: o.hidden}
	var paths []string
	for _, in := range inputs {
		if in != "-" {
			paths = append(paths, in)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(stdin, o.maxFileBytes+1))
		if err != nil {
			return ioErrorf("read stdin: %v", err)
		}
		jobs = append(jobs, &fileJob{file: ingest.File{Path: "-", Source: o.stdinName, Size: int64(len(data))}, data: data})
	}
	if err := ingest.Walk(paths, wcfg, func(f ingest.File) error {
		jobs = append(jobs, &fileJob{file: f})
		return nil
	}); err != nil {
		if errors.Is(err, ingest.ErrInvalidConfig) {
			return usageErrorf("%v", err)
		}
		return ioErrorf("%v", err)
	}
	if len(jobs) == 0 {
		fmt.Fprintf(stderr, "ragctl: no files to ingest in %s (hidden files, ignored files and --include/--exclude leave some out)\n", strings.Join(inputs, ", "))
	}
	r.prog = newProgress(stderr, o.progress, len(jobs))
	defer r.prog.stop()

	// Load and chunk on workers, upload on streams, in a bounded pipeline.
	g, gctx := errgroup.WithContext(ctx)
	todo := make(chan *fileJob)
	ready := make(chan *fileJob, 4*o.workers)
	g.Go(func() error {
		defer close(todo)
		for _, j := range jobs {
			select {
			case todo <- j:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			for j := range todo {
				if err := r.prepare(gctx, j); err != nil {
					return err
				}
				if j.state != filePending {
					r.prog.fileDone()
					continue
				}
				select {
				case ready <- j:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error { wg.Wait(); close(ready); return nil })
	for range o.uploaders {
		u := &uploader{r: r}
		g.Go(func() error { return u.run(gctx, ready) })
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return ioErrorf("interrupted: %v (run the same command again to finish: unchanged files are skipped)", context.Cause(ctx))
		}
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return ioErrorf("%v", err)
	}
	if o.sync {
		n, err := r.syncDeletes(ctx, jobs)
		if err != nil {
			return err
		}
		r.deleted.Add(int64(n))
	}
	r.prog.stop()
	sum := r.summary(jobs, time.Since(start))
	if o.json {
		b, _ := json.MarshalIndent(sum, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printIngestSummary(stderr, sum)
	}
	if sum.FilesFailed > 0 {
		return partialErrorf("%d of %d files failed", sum.FilesFailed, len(jobs))
	}
	return nil
}

// ensureCollection gets the collection, creating it when it does not
// exist: with the server's defaults, or with the client's embedder.
func (r *ingestRun) ensureCollection(ctx context.Context) (*ragv1.Collection, error) {
	coll, err := r.c.GetCollection(ctx, r.coll)
	if err == nil {
		if r.emb != nil && int(coll.GetDimension()) != r.emb.Dimension() {
			return nil, usageErrorf("collection %q has dimension %d; --embedder %s makes %d-dimensional vectors", r.coll, coll.GetDimension(), r.emb.Model(), r.emb.Dimension())
		}
		return coll, nil
	}
	if !isNotFound(err) {
		return nil, callError(fmt.Sprintf("get collection %q", r.coll), err)
	}
	req := &ragv1.CreateCollectionRequest{Name: r.coll}
	if r.emb != nil {
		// Queries are embedded by the server: give the collection the same
		// embedder as this client's.
		req.Embedder = &ragv1.EmbedderConfig{Provider: r.o.embedder.embedder}
		switch r.o.embedder.embedder {
		case "hash":
			req.Embedder.Dimensions = int32(r.emb.Dimension())
		case "openai":
			req.Embedder.Model, req.Embedder.BaseUrl, req.Embedder.Dimensions = r.o.embedder.model, r.o.embedder.baseURL, int32(r.o.embedder.dimensions)
			req.Dimension = int32(r.emb.Dimension())
		}
	}
	coll, err = r.c.CreateCollection(ctx, req)
	if isAlreadyExists(err) { // created meanwhile
		coll, err = r.c.GetCollection(ctx, r.coll)
	} else if err == nil {
		r.fresh = true
		fmt.Fprintf(r.stderr, "ragctl: created collection %q (embedder %s, dimension %d)\n", r.coll, embedderName(coll.GetEmbedder()), coll.GetDimension())
	}
	if err != nil {
		return nil, callError(fmt.Sprintf("create collection %q", r.coll), err)
	}
	return coll, nil
}

// configure picks the tokenizer and chunk size of the collection's (or the
// client's) embedder.
func (r *ingestRun) configure(coll *ragv1.Collection) error {
	tk, window, err := tokenizerOf(coll.GetEmbedder(), coll.GetDimension())
	if err != nil {
		return err
	}
	maxTokens := r.o.chunkTokens
	if maxTokens == 0 {
		maxTokens = defaultChunkTokens
		if window > 0 {
			maxTokens = min(window, maxTokens)
		}
	}
	if window > 0 && maxTokens > window {
		return usageErrorf("--chunk-tokens %d exceeds the window of the collection's embedder (%s reads %d tokens)", maxTokens, embedderName(coll.GetEmbedder()), window)
	}
	if maxTokens < ingest.MinChunkTokens {
		return usageErrorf("--chunk-tokens %d: want at least %d", maxTokens, ingest.MinChunkTokens)
	}
	overlap := r.o.overlap
	if overlap < 0 {
		overlap = maxTokens / 8
	}
	if overlap > maxTokens/2 {
		return usageErrorf("--overlap %d: at most half of the %d tokens of a chunk", overlap, maxTokens)
	}
	r.chunk = ingest.ChunkConfig{MaxTokens: maxTokens, Overlap: overlap, Tokenizer: tk, HeadingPrefix: r.o.headingPrefix}
	r.load = ingest.LoadConfig{TextField: r.o.textField, IDField: r.o.idField, MaxBytes: r.o.maxFileBytes}
	if err := r.load.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	r.setting = ingest.Settings(r.chunk, fmt.Sprintf("text-field=%s id-field=%s", r.o.textField, r.o.idField))
	if r.emb != nil {
		r.setting += " embedder=" + r.emb.Model()
	}
	return nil
}

// defaultChunkTokens bounds the default chunk size of embedders with long
// windows: passages of a few hundred tokens retrieve better than whole
// pages (LlamaIndex and LangChain default to 1,024 and ~250 tokens).
const defaultChunkTokens = 512

// tokenizerOf is the tokenizer of a collection's embedder and its window
// (0: no limit that matters).
func tokenizerOf(e *ragv1.EmbedderConfig, dim int32) (embed.Tokenizer, int, error) {
	switch e.GetProvider() {
	case "local":
		m, err := local.New(local.Config{})
		if err != nil {
			return nil, 0, ioErrorf("load the local model's tokenizer: %v", err)
		}
		return m, m.MaxTokens(), nil
	case "hash":
		return embed.WordTokenizer{}, 0, nil
	case "openai":
		tk, _ := embed.TokenizerFor(e.GetModel())
		window := 0
		if w, ok := tk.(embed.Windowed); ok {
			window = w.MaxTokens()
		}
		return tk, window, nil
	}
	return embed.EstimateTokenizer{}, 0, nil // text-only, or unknown
}

// prepare reads, loads, chunks (and embeds, client-side) a file, or marks
// it unchanged, unsupported or failed. Its error stops the ingest (the
// server failing); a file's own problems are in j.err.
func (r *ingestRun) prepare(ctx context.Context, j *fileJob) error {
	fail := func(err error) error {
		j.state, j.err = fileFailed, err
		return nil
	}
	data := j.data
	if j.file.Path != "-" {
		if j.file.Size > r.o.maxFileBytes {
			return fail(fmt.Errorf("%w: %d bytes exceed --max-file-bytes %d", ingest.ErrTooLarge, j.file.Size, r.o.maxFileBytes))
		}
		var err error
		if data, err = os.ReadFile(j.file.Path); err != nil {
			return fail(err)
		}
	}
	if int64(len(data)) > r.o.maxFileBytes {
		return fail(fmt.Errorf("%w: more than --max-file-bytes %d", ingest.ErrTooLarge, r.o.maxFileBytes))
	}
	format, ok := ingest.Detect(j.file.Source, data[:min(len(data), 8192)])
	if !ok {
		j.state = fileUnsupported
		return nil
	}
	j.hash = ingest.Hash(data, r.setting+" format="+string(format))
	if format != ingest.FormatJSONL {
		// Documents of other formats have no ids of their own: the first
		// chunk's id is known before the file is loaded.
		if unchanged, err := r.unchanged(ctx, j, ingest.FirstChunkID(j.file.Source)); err != nil || unchanged {
			return err
		}
	}
	docs, err := ingest.Load(j.file.Source, data, format, r.load)
	if errors.Is(err, ingest.ErrUnsupported) {
		j.state, j.err = fileUnsupported, err
		return nil
	}
	if err != nil {
		return fail(err)
	}
	for _, d := range docs {
		chunks, err := ingest.Split(d, r.chunk)
		if err != nil {
			return fail(err)
		}
		j.records = append(j.records, ingest.Records(d, chunks, j.hash)...)
	}
	if len(j.records) == 0 {
		return fail(fmt.Errorf("%w: nothing to index (no letters or digits)", ingest.ErrEmpty))
	}
	for i, rec := range j.records {
		if b, err := index.MarshalMetadata(rec.Metadata); err != nil || len(b) > index.MaxMetadataBytes {
			return fail(fmt.Errorf("chunk %d (%s): metadata of %d bytes exceeds %d (front matter or JSONL fields too large?)", i, rec.ID, len(b), index.MaxMetadataBytes))
		}
		j.tokens += rec.Tokens
	}
	if format == ingest.FormatJSONL {
		if unchanged, err := r.unchanged(ctx, j, j.marker().ID); err != nil || unchanged {
			return err
		}
	}
	if r.emb != nil {
		texts := make([]string, len(j.records))
		for i, rec := range j.records {
			texts[i] = rec.Text
		}
		vs, err := r.emb.Embed(ctx, texts)
		if err != nil {
			var te *embed.TextError
			if errors.As(err, &te) && te.Index < len(j.records) {
				return fail(fmt.Errorf("chunk %s: %w", j.records[te.Index].ID, err))
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return ioErrorf("embed %s: %v", j.file.Source, err)
		}
		j.vectors = vs
	}
	return nil
}

// unchanged reports (and marks) a file whose first chunk, written last,
// carries the file's hash: it was ingested completely with the same
// content and settings.
func (r *ingestRun) unchanged(ctx context.Context, j *fileJob, firstID string) (bool, error) {
	if r.fresh {
		return false, nil
	}
	cur, err := r.c.GetDocument(ctx, &ragv1.GetDocumentRequest{Collection: r.coll, Id: firstID})
	switch {
	case err == nil && cur.GetMetadata().AsMap()[ingest.KeyHash] == j.hash:
		j.state, j.records = fileUnchanged, nil
		return true, nil
	case err == nil:
		j.replaces = true
	case err != nil && !isNotFound(err):
		return false, callError(fmt.Sprintf("look up %s", firstID), err)
	}
	return false, nil
}

func (r *ingestRun) summary(jobs []*fileJob, took time.Duration) ingestSummary {
	s := ingestSummary{Failures: []ingestFailure{}, ChunksWritten: int(r.written.Load()), ChunksDeleted: int(r.deleted.Load()),
		Tokens: int(r.tokens.Load()), Seconds: took.Seconds()}
	for _, j := range jobs {
		switch j.state {
		case fileOK:
			s.FilesOK++
		case fileUnchanged, fileUnsupported:
			s.FilesSkipped++
		case fileFailed:
			s.FilesFailed++
			s.Failures = append(s.Failures, ingestFailure{Path: j.file.Source, Error: j.err.Error()})
		}
	}
	sort.Slice(s.Failures, func(a, b int) bool { return s.Failures[a].Path < s.Failures[b].Path })
	return s
}

func printIngestSummary(w io.Writer, s ingestSummary) {
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(s.ChunksWritten) / s.Seconds
	}
	fmt.Fprintf(w, "ingested %d files (%d skipped, %d failed): %d chunks written, %d deleted, %d tokens in %.1f s (%.0f chunks/s)\n",
		s.FilesOK, s.FilesSkipped, s.FilesFailed, s.ChunksWritten, s.ChunksDeleted, s.Tokens, s.Seconds, rate)
	for _, f := range s.Failures {
		fmt.Fprintf(w, "  failed: %s: %s\n", f.Path, strings.TrimPrefix(f.Error, "ingest: "))
	}
}
