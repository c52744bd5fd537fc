package flat

// cand is a candidate row with its ranking key (a score that orders rows
// like the distance, or the distance itself).
type cand struct {
	key float32
	id  uint32
}

// less orders candidates by key, then by id: the order of the results.
func (a cand) less(b cand) bool {
	return a.key < b.key || a.key == b.key && a.id < b.id
}

// topK is the k best candidates of one query so far: a max-heap on
// (key, id) in a fixed slice, the worst on top, so that a new candidate is
// compared with one element and most are rejected by the caller's bound
// before they get here.
type topK struct {
	h []cand // len ≤ cap = k
}

func (t *topK) reset(buf []cand) { t.h = buf[:0] }

func (t *topK) full() bool { return len(t.h) == cap(t.h) }

// worst returns the key a candidate must not exceed to enter: +Inf until
// the heap is full.
func (t *topK) worst() float32 {
	if !t.full() {
		return inf
	}
	return t.h[0].key
}

// push offers c, keeping the k best by (key, id).
func (t *topK) push(c cand) {
	h := t.h
	if len(h) < cap(h) {
		h = append(h, c)
		i := len(h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !h[p].less(c) {
				break
			}
			h[i] = h[p]
			i = p
		}
		h[i] = c
		t.h = h
		return
	}
	if len(h) == 0 || !c.less(h[0]) {
		return
	}
	// Replace the top and sift down.
	n, i := len(h), 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h[l].less(h[r]) {
			l = r
		}
		if !c.less(h[l]) {
			break
		}
		h[i] = h[l]
		i = l
	}
	h[i] = c
}
