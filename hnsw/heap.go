package hnsw

// item is a node with its distance to the current query.
type item struct {
	dist float32
	id   NodeID
}

// minHeap keeps the nearest item on top: the candidates still to expand.
type minHeap []item

func (h minHeap) len() int { return len(h) }

func (h *minHeap) push(it item) {
	a := append(*h, it)
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].dist <= it.dist {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = it
	*h = a
}

func (h *minHeap) pop() item {
	a := *h
	top := a[0]
	n := len(a) - 1
	last := a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && a[r].dist < a[l].dist {
			l = r
		}
		if last.dist <= a[l].dist {
			break
		}
		a[i] = a[l]
		i = l
	}
	if n > 0 {
		a[i] = last
	}
	*h = a
	return top
}

// maxHeap keeps the farthest item on top: the results found so far, so the
// worst one can be compared and replaced cheaply.
type maxHeap []item

func (h maxHeap) len() int { return len(h) }

func (h maxHeap) top() item { return h[0] }

func (h *maxHeap) push(it item) {
	a := append(*h, it)
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].dist >= it.dist {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = it
	*h = a
}

func (h *maxHeap) pop() item {
	a := *h
	top := a[0]
	n := len(a) - 1
	last := a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && a[r].dist > a[l].dist {
			l = r
		}
		if last.dist >= a[l].dist {
			break
		}
		a[i] = a[l]
		i = l
	}
	if n > 0 {
		a[i] = last
	}
	*h = a
	return top
}

// pushBounded adds it, keeping at most n items (the n nearest).
func (h *maxHeap) pushBounded(it item, n int) {
	if len(*h) < n {
		h.push(it)
		return
	}
	if it.dist >= (*h)[0].dist {
		return
	}
	h.replaceTop(it)
}

// replaceTop swaps the farthest item for it and restores the heap.
func (h maxHeap) replaceTop(it item) {
	n := len(h)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h[r].dist > h[l].dist {
			l = r
		}
		if it.dist >= h[l].dist {
			break
		}
		h[i] = h[l]
		i = l
	}
	h[i] = it
}

// drainAscending empties the heap into dst[:0], nearest first.
func (h *maxHeap) drainAscending(dst []item) []item {
	n := h.len()
	if cap(dst) < n {
		dst = make([]item, n)
	}
	dst = dst[:n]
	for i := n - 1; i >= 0; i-- {
		dst[i] = h.pop()
	}
	return dst
}
