package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/ingest"
)

func numCPU() int { return runtime.NumCPU() }

// An uploader writes files' chunks in rounds, each one upload stream, so
// that an interrupted ingest never leaves a file looking complete when it
// is not. A file is complete when its first chunk (the marker) carries the
// file's hash, so the marker goes last:
//
//  1. round r stores every chunk of a new file but the marker;
//  2. once that round's stream has returned (everything in it is stored),
//     the chunks of the file's earlier version that the new one does not
//     replace are deleted (same source, another hash);
//  3. round r+1 stores the marker.
//
// A kill at any point leaves either the old marker (old hash: the file
// is redone) or no marker (redone) or the new one (everything before it
// is stored). Upserts replace by id, so sending a batch again is harmless:
// after a transient failure whatever the stream did not confirm is sent
// again.
type uploader struct {
	r     *ingestRun
	ready []*fileJob // chunks but the marker stored; marker next round
}

// part is a file's share of a batch: its records[lo:hi].
type part struct {
	job    *fileJob
	lo, hi int
}

// batch is one message of a stream.
type batch struct{ parts []part }

const (
	// roundDocs bounds the chunks of new files one round takes.
	roundDocs = 2000
	// batchBytes bounds the text of one batch, well below the server's 32
	// MiB message limit.
	batchBytes = 4 << 20
	// staleFilesPerCall bounds the files of one delete call (3 filter
	// conditions each; the server allows 1,024).
	staleFilesPerCall = 300
	maxAttempts       = 6
)

func (u *uploader) run(ctx context.Context, in <-chan *fileJob) error {
	open := true
	for open || len(u.ready) > 0 {
		var fresh []*fileJob
		if len(u.ready) == 0 {
			select {
			case j, ok := <-in:
				if !ok {
					open = false
					continue
				}
				fresh = append(fresh, j)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		docs := 0
		for _, j := range fresh {
			docs += len(j.records) - 1
		}
	drain:
		for open && docs < roundDocs {
			select {
			case j, ok := <-in:
				if !ok {
					open = false
					break drain
				}
				fresh = append(fresh, j)
				docs += len(j.records) - 1
			default:
				break drain
			}
		}
		markers := u.ready
		u.ready = nil
		if err := u.deleteStale(ctx, markers); err != nil {
			return err
		}
		if err := u.send(ctx, u.plan(markers, fresh)); err != nil {
			return err
		}
		for _, j := range markers {
			if j.state == filePending {
				j.state = fileOK
				u.r.prog.fileDone()
			}
		}
		for _, j := range fresh {
			switch {
			case j.state == fileFailed:
				u.r.prog.fileDone()
			case len(j.records) > 0:
				u.ready = append(u.ready, j)
			}
		}
	}
	return nil
}

// plan cuts a round into batches: the markers of files whose other chunks
// are stored, then the other chunks of new files, whole files per batch
// where they fit.
func (u *uploader) plan(markers, fresh []*fileJob) []batch {
	var out []batch
	var cur batch
	n, bytes := 0, 0
	add := func(p part) {
		for p.lo < p.hi {
			if n == u.r.o.batch || bytes >= batchBytes {
				out = append(out, cur)
				cur, n, bytes = batch{}, 0, 0
			}
			take := p.lo
			for take < p.hi && n < u.r.o.batch && bytes < batchBytes {
				bytes += len(p.job.records[take].Text)
				n++
				take++
			}
			cur.parts = append(cur.parts, part{job: p.job, lo: p.lo, hi: take})
			p.lo = take
		}
	}
	for _, j := range markers {
		add(part{job: j, lo: 0, hi: 1})
	}
	for _, j := range fresh {
		// Keep a file in one batch when it fits in a batch of its own.
		if k := len(j.records) - 1; k > 0 && n > 0 && n+k > u.r.o.batch && k <= u.r.o.batch {
			out = append(out, cur)
			cur, n, bytes = batch{}, 0, 0
		}
		add(part{job: j, lo: 1, hi: len(j.records)})
	}
	if n > 0 {
		out = append(out, cur)
	}
	return out
}

// send stores batches through streams, retrying what a transient failure
// left unconfirmed and isolating a batch the server refuses.
func (u *uploader) send(ctx context.Context, batches []batch) error {
	attempt := 0
	for len(batches) > 0 {
		batches = u.live(batches)
		if len(batches) == 0 {
			return nil
		}
		stored, err := u.stream(ctx, batches)
		for _, b := range batches[:stored] {
			u.stored(b)
		}
		batches = batches[stored:]
		if err == nil {
			return nil
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case refused(err):
			// batches[0] holds something the server refuses: find out
			// which file, one file at a time.
			if err := u.isolate(ctx, batches[0]); err != nil {
				return err
			}
			batches, attempt = batches[1:], 0
		case transient(err) && attempt < maxAttempts:
			attempt++
			if err := sleep(ctx, backoff(attempt, err)); err != nil {
				return err
			}
		default:
			return callError(fmt.Sprintf("upload to collection %q", u.r.coll), err)
		}
	}
	return nil
}

// live drops from batches the parts of files that have failed.
func (u *uploader) live(batches []batch) []batch {
	var out []batch
	for _, b := range batches {
		var keep batch
		for _, p := range b.parts {
			if p.job.state != fileFailed {
				keep.parts = append(keep.parts, p)
			}
		}
		if len(keep.parts) > 0 {
			out = append(out, keep)
		}
	}
	return out
}

// stream sends batches over one stream and returns how many leading
// batches are stored, and the stream's error.
func (u *uploader) stream(ctx context.Context, batches []batch) (int, error) {
	st, err := u.r.c.UpsertStream(ctx)
	if err != nil {
		return 0, err
	}
	for _, b := range batches {
		req, err := u.request(b)
		if err != nil {
			return 0, err
		}
		if st.Send(req) != nil {
			break // the stream ended: CloseAndRecv says why
		}
	}
	if _, err := st.CloseAndRecv(); err != nil {
		if n, ok := streamInfo(err); ok && n <= len(batches) {
			return n, err
		}
		return 0, err // nothing known stored: all is sent again
	}
	return len(batches), nil
}

// request is the upsert message of a batch.
func (u *uploader) request(b batch) (*ragv1.UpsertDocumentsRequest, error) {
	req := &ragv1.UpsertDocumentsRequest{Collection: u.r.coll}
	for _, p := range b.parts {
		for i := p.lo; i < p.hi; i++ {
			rec := p.job.records[i]
			md, err := metadataStruct(rec.Metadata)
			if err != nil {
				return nil, fmt.Errorf("%s: metadata: %w", rec.ID, err)
			}
			d := &ragv1.Document{Id: rec.ID, Text: rec.Text, Metadata: md, Source: rec.Source, Chunk: int32(rec.Chunk)}
			if p.job.vectors != nil {
				d.Vector = p.job.vectors[i]
			}
			req.Documents = append(req.Documents, d)
		}
	}
	return req, nil
}

// metadataStruct converts metadata through its JSON, as the index stores
// it (a loader's []string or int become JSON lists and numbers).
func metadataStruct(m map[string]any) (*structpb.Struct, error) {
	b, err := index.MarshalMetadata(m)
	if err != nil {
		return nil, err
	}
	st := new(structpb.Struct)
	return st, protojson.Unmarshal(b, st)
}

// stored counts a stored batch.
func (u *uploader) stored(b batch) {
	for _, p := range b.parts {
		n := p.hi - p.lo
		tokens := 0
		for i := p.lo; i < p.hi; i++ {
			tokens += p.job.records[i].Tokens
		}
		u.r.written.Add(int64(n))
		u.r.tokens.Add(int64(tokens))
		u.r.prog.chunks(n)
	}
}

// isolate stores a refused batch one file at a time: the files the server
// refuses fail (and their chunks of this version stored so far are
// removed), the others are stored.
func (u *uploader) isolate(ctx context.Context, b batch) error {
	for _, p := range b.parts {
		req, err := u.request(batch{parts: []part{p}})
		if err == nil {
			err = u.retry(ctx, func() error { _, err := u.r.c.Upsert(ctx, req); return err })
		}
		switch {
		case err == nil:
			u.stored(batch{parts: []part{p}})
		case refused(err) || !isStatus(err):
			p.job.state, p.job.err = fileFailed, errors.New(describe(err))
			if derr := u.dropVersion(ctx, p.job); derr != nil {
				return derr
			}
		default:
			return callError(fmt.Sprintf("upload %s", p.job.file.Source), err)
		}
	}
	return nil
}

// dropVersion deletes the chunks of a failed file's new version that were
// stored, so that nothing of it is left half-written; the version before
// it keeps its marker, and the next run retries the file.
func (u *uploader) dropVersion(ctx context.Context, j *fileJob) error {
	n, err := u.deleteWhere(ctx, map[string]any{"must": []any{
		map[string]any{"key": ingest.KeySource, "match": map[string]any{"value": j.file.Source}},
		map[string]any{"key": ingest.KeyHash, "match": map[string]any{"value": j.hash}},
	}})
	if err != nil {
		return callError(fmt.Sprintf("remove the partly written %s", j.file.Source), err)
	}
	u.r.written.Add(-int64(n))
	return nil
}

// deleteWhere deletes what a filter matches, retrying transient failures,
// and returns how many documents it deleted.
func (u *uploader) deleteWhere(ctx context.Context, filter map[string]any) (int, error) {
	f, err := structpb.NewStruct(filter)
	if err != nil {
		return 0, err
	}
	var resp *ragv1.DeleteDocumentsResponse
	err = u.retry(ctx, func() error {
		var err error
		resp, err = u.r.c.DeleteMany(ctx, &ragv1.DeleteDocumentsRequest{Collection: u.r.coll, Filter: f})
		return err
	})
	return int(resp.GetDeleted()), err
}

// deleteStale deletes, for each file, the chunks of the same source with
// another hash: what its earlier version has and the new one does not
// replace (the earlier marker among them).
func (u *uploader) deleteStale(ctx context.Context, jobs []*fileJob) error {
	if u.r.fresh {
		return nil
	}
	for len(jobs) > 0 {
		n := min(len(jobs), staleFilesPerCall)
		var should []any
		for _, j := range jobs[:n] {
			should = append(should, map[string]any{
				"must":     []any{map[string]any{"key": ingest.KeySource, "match": map[string]any{"value": j.file.Source}}},
				"must_not": []any{map[string]any{"key": ingest.KeyHash, "match": map[string]any{"value": j.hash}}},
			})
		}
		deleted, err := u.deleteWhere(ctx, map[string]any{"should": should})
		if err != nil {
			return callError("delete the chunks of earlier versions", err)
		}
		// An earlier version's first chunk is deleted and written again:
		// not a deletion of the run's.
		replaced := 0
		for _, j := range jobs[:n] {
			if j.replaces {
				replaced++
			}
		}
		u.r.deleted.Add(int64(max(0, deleted-replaced)))
		jobs = jobs[n:]
	}
	return nil
}

// retry calls fn until it succeeds, fails for good, or the attempts run
// out.
func (u *uploader) retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !transient(err) || attempt >= maxAttempts || ctx.Err() != nil {
			return err
		}
		if err := sleep(ctx, backoff(attempt, err)); err != nil {
			return err
		}
	}
}

// refused reports an error about the request's content: retrying the same
// batch would fail the same way.
func refused(err error) bool {
	return isCode(err, codes.InvalidArgument) || isCode(err, codes.FailedPrecondition) || isCode(err, codes.OutOfRange)
}

// transient reports an error worth retrying: overload, restart, network.
func transient(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded:
		return true
	}
	return false
}

func isStatus(err error) bool {
	_, ok := status.FromError(err)
	return ok
}

// backoff is the wait before attempt: the server's Retry-After when it gave
// one, else exponential with jitter from 250 ms, at most 10 s.
func backoff(attempt int, err error) time.Duration {
	if d := retryAfterOf(err); d > 0 {
		return min(d, 30*time.Second)
	}
	d := 250 * time.Millisecond << min(attempt-1, 6)
	d = min(d, 10*time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// syncDeletes deletes the chunks of files ingested before that are not
// among this run's inputs (--sync): the sources of chunks that carry an
// ingest hash, less every source this run walked (whatever became of it).
func (r *ingestRun) syncDeletes(ctx context.Context, jobs []*fileJob) (int, error) {
	seen := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		seen[j.file.Source] = true
	}
	gone := map[string]bool{}
	cursor := ""
	for {
		page, err := r.c.Scan(ctx, &ragv1.ScanDocumentsRequest{Collection: r.coll, Cursor: cursor, Limit: 1000})
		if err != nil {
			return 0, callError("list the collection's documents for --sync", err)
		}
		for _, d := range page.GetDocuments() {
			md := d.GetMetadata().GetFields()
			src := md[ingest.KeySource].GetStringValue()
			if _, hashed := md[ingest.KeyHash]; hashed && src != "" && !seen[src] {
				gone[src] = true
			}
		}
		if page.GetNextCursor() == "" || len(page.GetDocuments()) == 0 {
			break
		}
		cursor = page.GetNextCursor()
	}
	var sources []any
	for s := range gone {
		sources = append(sources, s)
	}
	total := 0
	for len(sources) > 0 {
		n := min(len(sources), 1000)
		f, err := structpb.NewStruct(map[string]any{"must": []any{
			map[string]any{"key": ingest.KeySource, "match": map[string]any{"any": sources[:n]}},
			map[string]any{"key": ingest.KeyHash, "exists": true},
		}})
		if err != nil {
			return 0, err
		}
		resp, err := r.c.DeleteMany(ctx, &ragv1.DeleteDocumentsRequest{Collection: r.coll, Filter: f})
		if err != nil {
			return 0, callError("delete the chunks of vanished files (--sync)", err)
		}
		total += int(resp.GetDeleted())
		sources = sources[n:]
	}
	return total, nil
}
