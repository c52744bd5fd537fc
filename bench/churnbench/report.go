package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// span is the interval of a graph snapshot or compaction, as the index logs
// it (the end and the duration).
type span struct{ from, to time.Time }

// events collects the spans of the index's graph snapshots and compactions
// from its log.
type events struct {
	mu          sync.Mutex
	snapshots   []span
	compactions []span
}

// capture is the slog.Handler that feeds events and forwards to next (nil:
// nothing is printed).
type capture struct {
	e    *events
	next slog.Handler
}

func (h capture) Enabled(context.Context, slog.Level) bool { return true }

func (h capture) Handle(ctx context.Context, r slog.Record) error {
	var dur time.Duration
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "dur" {
			dur = a.Value.Duration()
		}
		return true
	})
	sp := span{r.Time.Add(-dur), r.Time}
	h.e.mu.Lock()
	switch r.Message {
	case "graph snapshot written":
		h.e.snapshots = append(h.e.snapshots, sp)
	case "graph compacted":
		h.e.compactions = append(h.e.compactions, sp)
	}
	h.e.mu.Unlock()
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h capture) WithAttrs(as []slog.Attr) slog.Handler {
	if h.next != nil {
		return capture{h.e, h.next.WithAttrs(as)}
	}
	return h
}

func (h capture) WithGroup(name string) slog.Handler {
	if h.next != nil {
		return capture{h.e, h.next.WithGroup(name)}
	}
	return h
}

// spans returns the snapshot and compaction spans that overlap [from, to].
func (e *events) spans(from, to time.Time) (snaps, comps []span) {
	e.mu.Lock()
	defer e.mu.Unlock()
	in := func(all []span) []span {
		var out []span
		for _, s := range all {
			if s.to.After(from) && s.from.Before(to) {
				out = append(out, s)
			}
		}
		return out
	}
	return in(e.snapshots), in(e.compactions)
}

// sample is one timed upsert.
type sample struct {
	start time.Time
	took  time.Duration
}

// latencies summarises upserts: all of them, and those that overlapped a
// snapshot.
type latencies struct {
	n, nSnap                    int
	p50, p99, max               time.Duration
	snapP50, snapP99, snapMax   time.Duration
	snapshots, compactions      int
	snapshotTime, compactedTime time.Duration
}

func summarise(ss []sample, snaps, comps []span) latencies {
	var all, during []time.Duration
	for _, s := range ss {
		all = append(all, s.took)
		end := s.start.Add(s.took)
		for _, sp := range snaps {
			if end.After(sp.from) && s.start.Before(sp.to) {
				during = append(during, s.took)
				break
			}
		}
	}
	l := latencies{n: len(all), nSnap: len(during), snapshots: len(snaps), compactions: len(comps)}
	l.p50, l.p99, l.max = pct(all, 0.5), pct(all, 0.99), pct(all, 1)
	l.snapP50, l.snapP99, l.snapMax = pct(during, 0.5), pct(during, 0.99), pct(during, 1)
	for _, sp := range snaps {
		l.snapshotTime += sp.to.Sub(sp.from)
	}
	for _, sp := range comps {
		l.compactedTime += sp.to.Sub(sp.from)
	}
	return l
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// row is one line of the results table.
type row struct {
	name                    string
	live                    int
	recall, qps, churnQPS   float64
	tombstones, compactions int
	reclaimed               uint64
	bytesPerLive, usedPer   float64
	upserts                 latencies
	took                    time.Duration
}

func header(w io.Writer) {
	fmt.Fprintln(w, "| round | live | recall@10 | QPS | QPS during churn | tombstones | compactions (reclaimed) | graph B/live (used) | upserts | p50 ms | p99 ms | max ms | during snapshots: n, p99 ms, max ms | snapshots (s) | compacting (s) | churn (build) s |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
}

func (r row) print(w io.Writer) {
	u := r.upserts
	fmt.Fprintf(w, "| %s | %d | %.4f | %.0f | %.0f | %d | %d (%d) | %.0f (%.0f) | %d | %.2f | %.2f | %.1f | %d, %.2f, %.1f | %d (%.1f) | %d (%.1f) | %.1f |\n",
		r.name, r.live, r.recall, r.qps, r.churnQPS, r.tombstones, r.compactions, r.reclaimed,
		r.bytesPerLive, r.usedPer, u.n, ms(u.p50), ms(u.p99), ms(u.max), u.nSnap, ms(u.snapP99), ms(u.snapMax),
		u.snapshots, u.snapshotTime.Seconds(), u.compactions, u.compactedTime.Seconds(), r.took.Seconds())
}
