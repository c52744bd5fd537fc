package embed

import (
	"context"
	"strconv"
)

// Priority is how urgently a Pool serves an Embed call. It travels in the
// call's context (WithPriority), so that it crosses the layers between the
// caller and the Pool (Cached, an index, the ingest pipeline) without
// changing the Embedder interface; an Embedder that does not queue ignores
// it.
type Priority uint8

const (
	// PriorityBulk is the default: ingestion, re-embedding, anything no
	// one is waiting on. Bulk calls are served first come, first served.
	PriorityBulk Priority = iota
	// PriorityQuery is for a call someone is waiting on, such as the
	// query of a search or a question: a Pool serves it ahead of queued
	// bulk work (see Pool for the bound that keeps bulk work moving).
	PriorityQuery

	numPriorities = iota
)

// String returns "bulk" or "query".
func (p Priority) String() string {
	switch p {
	case PriorityBulk:
		return "bulk"
	case PriorityQuery:
		return "query"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

type priorityKey struct{}

// WithPriority returns a copy of ctx that asks the Pools an Embed call
// reaches to serve it at priority p. A server marks the embedding of a
// search query or a question PriorityQuery and leaves ingestion at the
// default, PriorityBulk.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFrom returns the priority WithPriority put in ctx: PriorityBulk
// if none, or if it is not a known Priority.
func PriorityFrom(ctx context.Context) Priority {
	if p, ok := ctx.Value(priorityKey{}).(Priority); ok && p < numPriorities {
		return p
	}
	return PriorityBulk
}
