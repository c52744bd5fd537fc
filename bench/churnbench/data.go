package main

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/ragd/ragd/bench/internal/synth"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/internal/texmex"
	"github.com/ragd/ragd/simd"
)

// corpus is the churned collection's model: every document's current
// vector, which ones are live, and the queries. Document d has ID "doc-<d>".
// Writers call update, insert and remove; ground truth reads a snapshot.
type corpus struct {
	dim    int
	metric index.Metric
	text   func(d int) string

	mu   sync.Mutex
	vecs [][]float32 // by document; nil once deleted
	ver  []int       // versions, for synthetic vectors
	// next makes version ver of document d; release gives back the vector
	// of a deleted document (MNIST: to the pool of images). Called with mu.
	next    func(d, ver int) []float32
	release func(v []float32)
	live    int

	queries [][]float32
}

// newSynth is the synthetic corpus of bench/indexbench (random unit vectors
// under cosine, the hard case for HNSW; ~500 characters of Zipfian text).
// A new version of a document is another random vector; its text stays.
func newSynth(n, dim, nq int) *corpus {
	c := &corpus{dim: dim, metric: index.Cosine}
	c.next = func(d, ver int) []float32 { return unitVector(uint64(d), uint64(ver), dim) }
	c.text = func(d int) string { return synth.Document(d, 8).Text }
	for d := range n {
		c.vecs = append(c.vecs, c.next(d, 0))
		c.ver = append(c.ver, 0)
	}
	c.live = n
	for q := range nq {
		c.queries = append(c.queries, unitVector(uint64(q), 1<<40, dim))
	}
	return c
}

func unitVector(d, ver uint64, dim int) []float32 {
	rng := rand.New(rand.NewPCG(d, ver<<8|7))
	v := make([]float32, dim)
	var ss float64
	for j := range v {
		x := rng.NormFloat64()
		v[j] = float32(x)
		ss += x * x
	}
	inv := float32(1 / math.Sqrt(ss))
	for j := range v {
		v[j] *= inv
	}
	return v
}

// newMNIST is MNIST-784 under L2: the first n training images are the
// documents, the rest a pool of unused images; a new version of a document
// (and a new document) takes an image from the pool, and a replaced or
// deleted image returns to it, so that no two live documents share an
// image. Queries are the first nq test images.
func newMNIST(dir string, n, nq int) (*corpus, error) {
	base, dim, nb, err := texmex.ReadFvecs(filepath.Join(dir, "mnist-784-euclidean.base.fvecs"), 0)
	if err != nil {
		return nil, fmt.Errorf("%w (make bench-data-mnist fetches it)", err)
	}
	qs, _, _, err := texmex.ReadFvecs(filepath.Join(dir, "mnist-784-euclidean.query.fvecs"), nq)
	if err != nil {
		return nil, err
	}
	if n >= nb {
		return nil, fmt.Errorf("-docs %d: MNIST has %d images and churn needs a pool of unused ones", n, nb)
	}
	c := &corpus{dim: dim, metric: index.L2}
	img := func(i int) []float32 { return base[i*dim : (i+1)*dim] }
	// The pool is a queue: an image freed is reused last.
	var pool []int
	for i := n; i < nb; i++ {
		pool = append(pool, i)
	}
	imgOf := make(map[*float32]int, nb)
	for i := range nb {
		imgOf[&img(i)[0]] = i
	}
	for d := range n {
		c.vecs = append(c.vecs, img(d))
	}
	c.ver = make([]int, n)
	c.release = func(v []float32) { pool = append(pool, imgOf[&v[0]]) }
	c.next = func(d, _ int) []float32 {
		if d < len(c.vecs) && c.vecs[d] != nil {
			c.release(c.vecs[d])
		}
		v := img(pool[0])
		pool = pool[1:]
		return v
	}
	c.text = func(d int) string { return "mnist digit image number " + strconv.Itoa(d) }
	c.live = n
	for q := range nq {
		c.queries = append(c.queries, qs[q*dim:(q+1)*dim])
	}
	return c, nil
}

// doc returns document d as currently modelled.
func (c *corpus) doc(d int) index.Document {
	c.mu.Lock()
	v := c.vecs[d]
	c.mu.Unlock()
	return index.Document{ID: "doc-" + strconv.Itoa(d), Text: c.text(d), Vector: v,
		Metadata: map[string]any{"bucket": d % 100}}
}

// update gives document d a new vector and returns it.
func (c *corpus) update(d int) index.Document {
	c.mu.Lock()
	c.ver[d]++
	c.vecs[d] = c.next(d, c.ver[d])
	c.mu.Unlock()
	return c.doc(d)
}

// insert adds a new document and returns it.
func (c *corpus) insert() index.Document {
	c.mu.Lock()
	d := len(c.vecs)
	c.vecs = append(c.vecs, c.next(d, 0))
	c.ver = append(c.ver, 0)
	c.live++
	c.mu.Unlock()
	return c.doc(d)
}

// remove deletes document d and returns its ID.
func (c *corpus) remove(d int) string {
	c.mu.Lock()
	if c.release != nil {
		c.release(c.vecs[d])
	}
	c.vecs[d] = nil
	c.live--
	c.mu.Unlock()
	return "doc-" + strconv.Itoa(d)
}

// liveDocs returns the live document numbers.
func (c *corpus) liveDocs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int, 0, c.live)
	for d, v := range c.vecs {
		if v != nil {
			out = append(out, d)
		}
	}
	return out
}

// truth returns, per query, the IDs of the k nearest live documents,
// computed exactly (in float32, on every core).
func (c *corpus) truth(k int) [][]string {
	c.mu.Lock()
	vecs := make([][]float32, len(c.vecs))
	copy(vecs, c.vecs)
	c.mu.Unlock()
	out := make([][]string, len(c.queries))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for qi := w; qi < len(c.queries); qi += workers {
				q := c.queries[qi]
				if c.metric == index.Cosine {
					q = normalized(q)
				}
				h := &maxHeap{}
				for d, v := range vecs {
					if v == nil {
						continue
					}
					var dist float32
					if c.metric == index.L2 {
						dist = simd.L2Squared(q, v)
					} else {
						dist = -simd.Dot(q, v)
					}
					if h.Len() < k {
						heap.Push(h, nd{dist, d})
					} else if dist < (*h)[0].dist {
						(*h)[0] = nd{dist, d}
						heap.Fix(h, 0)
					}
				}
				ids := make([]string, h.Len())
				for i := len(ids) - 1; i >= 0; i-- {
					ids[i] = "doc-" + strconv.Itoa(heap.Pop(h).(nd).doc)
				}
				out[qi] = ids
			}
		})
	}
	wg.Wait()
	return out
}

func normalized(v []float32) []float32 {
	out := append([]float32(nil), v...)
	simd.Normalize(out)
	return out
}

type nd struct {
	dist float32
	doc  int
}

type maxHeap []nd

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i].dist > h[j].dist }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(nd)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
