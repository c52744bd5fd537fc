package embed

import (
	"context"
	"sync"
)

// prioritySem bounds the requests in flight of an OpenAI embedder. A slot
// that frees goes to the longest-waiting request of the highest priority
// (PriorityFrom its ctx), except that after queryBurst grants in a row to
// queries while bulk requests wait, the next goes to bulk: queries pass
// the bulk requests waiting for the provider, and bulk work still moves
// under a flood of queries. It is safe for concurrent use.
type prioritySem struct {
	mu      sync.Mutex
	free    int                            // guarded by mu
	waiters [numPriorities][]chan struct{} // guarded by mu: FIFO by priority
	burst   int                            // guarded by mu: grants to queries in a row while bulk waits
}

// queryBurst is prioritySem's bound, the default of PoolConfig.QueryBurst.
const queryBurst = defaultPoolQueryBurst

func newPrioritySem(n int) *prioritySem { return &prioritySem{free: n} }

// acquire takes a slot, waiting until one is free or ctx ends.
func (s *prioritySem) acquire(ctx context.Context) error {
	p := PriorityFrom(ctx)
	s.mu.Lock()
	if s.free > 0 { // free slots and waiters never coexist
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := make(chan struct{})
	s.waiters[p] = append(s.waiters[p], w)
	s.mu.Unlock()
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for i, x := range s.waiters[p] {
			if x == w {
				s.waiters[p] = append(s.waiters[p][:i], s.waiters[p][i+1:]...)
				s.mu.Unlock()
				return ctx.Err()
			}
		}
		s.mu.Unlock()
		s.release() // granted meanwhile: pass it on
		return ctx.Err()
	}
}

// release frees a slot, handing it to the next waiter if there is one.
func (s *prioritySem) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, b := &s.waiters[PriorityQuery], &s.waiters[PriorityBulk]
	var next *[]chan struct{}
	switch {
	case len(*q) > 0 && (len(*b) == 0 || s.burst < queryBurst):
		next = q
		if len(*b) > 0 {
			s.burst++
		}
	case len(*b) > 0:
		next, s.burst = b, 0
	default:
		s.free++
		return
	}
	close((*next)[0])
	(*next)[0] = nil
	*next = (*next)[1:]
}
