package embed

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// semOrder has n waiters of the given priorities queue on a full
// semaphore of one slot, in order, then releases the slot n times and
// returns the order they got it in.
func semOrder(t *testing.T, prios []Priority) []int {
	t.Helper()
	s := newPrioritySem(1)
	require.NoError(t, s.acquire(context.Background()))
	got := make(chan int, len(prios))
	for i, p := range prios {
		ctx := WithPriority(context.Background(), p)
		go func() {
			if err := s.acquire(ctx); err == nil {
				got <- i
			}
		}()
		require.Eventually(t, func() bool { // queued, in this order
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.waiters[PriorityBulk])+len(s.waiters[PriorityQuery]) == i+1
		}, 5*time.Second, time.Millisecond)
	}
	var order []int
	for range prios {
		s.release()
		order = append(order, <-got)
	}
	s.release()
	require.Equal(t, 1, s.free)
	return order
}

func TestPrioritySem(t *testing.T) {
	B, Q := PriorityBulk, PriorityQuery
	// Queries first, each lane first come first served.
	require.Equal(t, []int{2, 4, 0, 1, 3}, semOrder(t, []Priority{B, B, Q, B, Q}))
	// At most queryBurst queries in a row while bulk waits.
	prios := []Priority{B, B}
	for range queryBurst + 2 {
		prios = append(prios, Q)
	}
	want := []int{2, 3, 4, 5, 0, 6, 7, 1}
	require.Equal(t, want[:len(prios)], semOrder(t, prios))

	// A waiter whose ctx ends leaves the queue; the slot goes on.
	s := newPrioritySem(1)
	require.NoError(t, s.acquire(context.Background()))
	ctx, cancel := context.WithCancel(WithPriority(context.Background(), Q))
	done := make(chan error, 1)
	go func() { done <- s.acquire(ctx) }()
	require.Eventually(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiters[Q]) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	s.release()
	require.Equal(t, 1, s.free)
	require.Empty(t, s.waiters[Q])
}
