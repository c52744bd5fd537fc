package hnsw

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ragd/ragd/simd"
)

// NodeID is a node's slot in the graph: dense, internal, reused after
// Compact. Callers identify vectors by their own uint32 key instead.
type NodeID uint32

const noNode = ^NodeID(0)

// Result is one search hit: the caller's key and its distance to the query
// (squared Euclidean for L2, 1 − cosine for Cosine, −dot for Dot).
type Result struct {
	Key  uint32
	Dist float32
}

// chunk holds the storage of a run of consecutive slots. Chunks never move
// once allocated, so readers may hold slices into them while the graph grows.
type chunk struct {
	// nodes holds one record of stride floats per slot: the vector (dim
	// floats), then the level-0 neighbour list (a count and m0 ids, stored
	// as uint32 bits and read atomically), padded to a whole number of cache
	// lines. A node's links sit next to its vector (as in hnswlib), so
	// expanding a node just scored rarely waits for a second cache miss.
	nodes  []float32
	keys   []uint32 // caller's key per slot
	levels []uint8  // top level per slot
	// upper points, for a slot of level ≥ 1, at its lists of levels 1 and
	// up: level·(m+1) words, each list a count then m ids. A pointer rather
	// than a slice header saves 16 bytes on each of the ~94 % of slots that
	// have no upper level.
	upper []*[]uint32
	dead  []atomic.Uint64 // tombstone bits, one per slot
	free  []atomic.Uint64 // reclaimed-slot bits, one per slot
	// ready bits are set once a slot's vector and key are written; paths
	// that reach slots through the key map rather than through links (the
	// exact filtered scan) skip slots that are not ready.
	ready []atomic.Uint64
	// indeg counts the level-0 links pointing at each slot, so that pruning
	// a full neighbour list never drops a node's last way in (see addLink).
	indeg []atomic.Int32
}

// stripe is one of the node-lock stripes, padded to a cache line so that
// neighbouring stripes do not share one.
type stripe struct {
	sync.Mutex
	_ [64 - 8]byte
}

const numStripes = 1024 // power of two

// Graph is a hierarchical navigable small world graph (Malkov & Yashunin,
// 2016) over vectors stored in contiguous chunks.
//
// All methods are safe for concurrent use. Searches never block each other
// and run alongside Add, Delete, Save and compaction; Add and Delete run
// alongside Save and compaction too. Nothing a search or a write does waits
// for a snapshot or a compaction step, except that the first Add to reach
// reorderAt vectors may wait for the steps and searches in flight once.
//
// Lock order: compactMu, then snapMu, then writeMu, then orderMu, then mu,
// then epMu, then node stripes in ascending stripe order.
type Graph struct {
	cfg       Config
	dim       int
	m, m0     int
	metric    Metric
	mL        float64
	baseShift uint
	stride    int // floats per node record: dim + 1 + m0, rounded up to 16

	prefetchFloats, prefetchAhead int // see prefetchPolicy

	// noScanModel turns scanCheaper off, so that tests can make filtered
	// searches walk (forceWalk).
	noScanModel bool

	// chunks[k] holds (1<<baseShift)<<k slots; set once, read lock-free.
	chunks [33]atomic.Pointer[chunk]
	// entry packs the entry point: node<<32 | (top level + 1); 0 means empty.
	// Read lock-free by every search; changed under epMu.
	entry atomic.Uint64
	epMu  sync.Mutex

	// writeMu: Add, Delete and compaction's repair steps hold it shared;
	// reorder holds it exclusively, so no vector is scored while it is
	// being permuted.
	writeMu sync.RWMutex
	// orderMu: searches hold it shared; reorder holds it exclusively, since
	// the queries of searches in flight are prepared in the old order.
	orderMu sync.RWMutex
	// grace has every search and every Add as a reader: before compaction
	// frees a slot it waits for the readers that might still hold it,
	// without making any reader wait (see graceGuard).
	grace graceGuard
	// snapMu: Save holds it while it reads the graph; compaction's reclaim
	// and reorder take it too, so a snapshot never reads a slot being reset
	// or a vector being permuted. Add and Delete never take it.
	snapMu sync.Mutex
	// compactMu serialises compaction steps.
	compactMu sync.Mutex
	cycle     *compaction // the compaction in progress, or nil; guarded by compactMu

	// keys maps live keys to slots: read lock-free, written under mu.
	keys keyMap
	// live is the number of live keys; written under mu, read lock-free.
	live atomic.Int64
	// upperBytes is the memory held by upper-level lists, for Stats.
	upperBytes atomic.Int64
	// compactions and reclaimed count finished compaction cycles and the
	// slots they freed since the graph was made or loaded.
	compactions, reclaimed atomic.Uint64
	// compactingFlag is set while a compaction cycle is in progress.
	compactingFlag atomic.Bool

	mu struct {
		sync.Mutex
		next    NodeID   // slots ever used; guarded by mu
		free    []NodeID // reclaimed slots; guarded by mu
		deleted int      // tombstoned slots not yet reclaimed; guarded by mu
	}

	stripes [numStripes]stripe

	searchers sync.Pool // *searcher

	// perm is the dimension order of the stored vectors: stored[i] =
	// original[perm[i]]; nil while it is the identity. Set once by reorder
	// while holding snapMu, writeMu and orderMu exclusively; read under any
	// of them (writeMu and orderMu held shared).
	perm      []uint32
	reordered atomic.Bool
}

// New returns an empty graph.
func New(cfg Config) (*Graph, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := &Graph{
		cfg:    cfg,
		dim:    cfg.Dim,
		m:      cfg.M,
		m0:     2 * cfg.M,
		metric: cfg.Metric,
		mL:     1 / math.Log(float64(cfg.M)),
	}
	g.baseShift = uint(bits.Len(uint(max(cfg.Capacity, 64) - 1)))
	g.stride = (g.dim + 1 + g.m0 + 15) &^ 15
	g.prefetchFloats, g.prefetchAhead = prefetchPolicy(g.dim, g.m0)
	return g, nil
}

// Config returns the graph's configuration with defaults applied.
func (g *Graph) Config() Config { return g.cfg }

// Len returns the number of live (not deleted) vectors. It takes no lock.
func (g *Graph) Len() int { return int(g.live.Load()) }

// Contains reports whether key is live in the graph. It takes no lock.
func (g *Graph) Contains(key uint32) bool {
	_, ok := g.keys.get(key)
	return ok
}

// Stats describes the graph's size and its compactions.
type Stats struct {
	Live     int // vectors searchable
	Deleted  int // tombstones awaiting compaction
	Free     int // reclaimed slots awaiting reuse
	Slots    int // slots ever allocated (Live + Deleted + Free)
	MaxLevel int // level of the entry point, -1 when empty
	// Bytes is the memory the graph holds for vectors, links and
	// bookkeeping, counting reserved chunk capacity.
	Bytes int64
	// UsedBytes is the part of Bytes that the slots ever allocated occupy:
	// the memory actually touched, which tombstones and free slots inflate.
	UsedBytes int64
	// Compacting reports a compaction cycle in progress (see CompactStep).
	Compacting bool
	// Compactions counts the compaction cycles finished, and Reclaimed the
	// slots they freed, since the graph was made or loaded.
	Compactions uint64
	Reclaimed   uint64
}

// Stats returns a snapshot of the graph's size. It takes the graph's
// allocation lock for an instant and reads nothing proportional to the
// graph's size.
func (g *Graph) Stats() Stats {
	g.mu.Lock()
	s := Stats{
		Live:    int(g.live.Load()),
		Deleted: g.mu.deleted,
		Free:    len(g.mu.free),
		Slots:   int(g.mu.next),
	}
	g.mu.Unlock()
	_, lvl, ok := g.entryPoint()
	s.MaxLevel = -1
	if ok {
		s.MaxLevel = lvl
	}
	for k := range g.chunks {
		if g.chunks[k].Load() == nil {
			break
		}
		s.Bytes += g.slotBytes((1 << g.baseShift) << k)
	}
	up := g.upperBytes.Load()
	s.Bytes += up
	s.UsedBytes = g.slotBytes(s.Slots) + up
	s.Compactions = g.compactions.Load()
	s.Reclaimed = g.reclaimed.Load()
	s.Compacting = g.compactingFlag.Load()
	return s
}

// slotBytes is the memory of n slots in a chunk: the node records (vector
// and level-0 links), key, level, upper-list pointer, in-degree, and the
// dead, free and ready bits.
func (g *Graph) slotBytes(n int) int64 {
	return int64(n)*(int64(g.stride)*4+4+1+8+4) + int64((n+63)/64)*24
}

// locate maps a slot to its chunk and its offset inside the chunk.
func (g *Graph) locate(id NodeID) (*chunk, int) {
	x := uint64(id)>>g.baseShift + 1
	k := bits.Len64(x) - 1
	off := uint64(id) - (uint64(1)<<k-1)<<g.baseShift
	return g.chunks[k].Load(), int(off)
}

// vec returns the stored vector of a slot.
func (g *Graph) vec(id NodeID) []float32 {
	c, off := g.locate(id)
	o := off * g.stride
	return c.nodes[o : o+g.dim : o+g.dim]
}

// links returns the neighbour list storage of a slot at a level: a count
// word followed by the capacity for the level's neighbours.
func (g *Graph) links(id NodeID, level int) []uint32 {
	c, off := g.locate(id)
	if level == 0 {
		o := off*g.stride + g.dim
		return unsafe.Slice((*uint32)(unsafe.Pointer(&c.nodes[o])), g.m0+1)
	}
	u := *c.upper[off]
	o := (level - 1) * (g.m + 1)
	return u[o : o+g.m+1 : o+g.m+1]
}

func (g *Graph) level(id NodeID) int {
	c, off := g.locate(id)
	return int(c.levels[off])
}

func (g *Graph) key(id NodeID) uint32 {
	c, off := g.locate(id)
	return c.keys[off]
}

func (g *Graph) isDeleted(id NodeID) bool {
	c, off := g.locate(id)
	return c.dead[off>>6].Load()&(1<<(uint(off)&63)) != 0
}

func (g *Graph) setDeleted(id NodeID, v bool) {
	c, off := g.locate(id)
	setBit(&c.dead[off>>6], off, v)
}

// inUse reports whether a slot below mu.next holds a node, live or deleted,
// rather than waiting in the free list.
func (g *Graph) inUse(id NodeID) bool {
	c, off := g.locate(id)
	return c.free[off>>6].Load()&(1<<(uint(off)&63)) == 0
}

func (g *Graph) setFree(id NodeID, v bool) {
	c, off := g.locate(id)
	setBit(&c.free[off>>6], off, v)
}

// inDegree is the counter of level-0 links pointing at id.
func (g *Graph) inDegree(id NodeID) *atomic.Int32 {
	c, off := g.locate(id)
	return &c.indeg[off]
}

func (g *Graph) isReady(id NodeID) bool {
	c, off := g.locate(id)
	return c.ready[off>>6].Load()&(1<<(uint(off)&63)) != 0
}

func (g *Graph) setReady(id NodeID, v bool) {
	c, off := g.locate(id)
	setBit(&c.ready[off>>6], off, v)
}

func setBit(w *atomic.Uint64, off int, v bool) {
	bit := uint64(1) << (uint(off) & 63)
	if v {
		w.Or(bit)
	} else {
		w.And(^bit)
	}
}

// ensureSlot makes sure storage exists for slot id. Called with mu held.
func (g *Graph) ensureSlot(id NodeID) {
	x := uint64(id)>>g.baseShift + 1
	k := bits.Len64(x) - 1
	if g.chunks[k].Load() != nil {
		return
	}
	n := (1 << g.baseShift) << k
	c := &chunk{
		nodes:  make([]float32, n*g.stride),
		keys:   make([]uint32, n),
		levels: make([]uint8, n),
		upper:  make([]*[]uint32, n),
		dead:   make([]atomic.Uint64, (n+63)/64),
		free:   make([]atomic.Uint64, (n+63)/64),
		ready:  make([]atomic.Uint64, (n+63)/64),
		indeg:  make([]atomic.Int32, n),
	}
	adviseHugePages(c.nodes)
	g.chunks[k].Store(c)
}

func (g *Graph) entryPoint() (NodeID, int, bool) {
	e := g.entry.Load()
	if e == 0 {
		return noNode, -1, false
	}
	return NodeID(e >> 32), int(uint32(e)) - 1, true
}

func (g *Graph) setEntryPoint(id NodeID, level int) {
	if id == noNode {
		g.entry.Store(0)
		return
	}
	g.entry.Store(uint64(id)<<32 | uint64(level+1))
}

func (g *Graph) stripe(id NodeID) *sync.Mutex {
	return &g.stripes[uint32(id)&(numStripes-1)].Mutex
}

// randomLevel draws a node's level from the exponential distribution with
// mL = 1/ln(M), seeded by the graph's seed and the key so that a key gets
// the same level whatever the order of insertion.
func (g *Graph) randomLevel(key uint32) int {
	x := splitmix64(g.cfg.Seed ^ (uint64(key) + 0x9e3779b97f4a7c15))
	// 53 random bits → u in (0, 1].
	u := (float64(x>>11) + 1) / (1 << 53)
	l := int(-math.Log(u) * g.mL)
	return min(l, maxLevel)
}

// newUpper allocates the upper-level lists of a node of the given level.
func (g *Graph) newUpper(level int) *[]uint32 {
	if level == 0 {
		return nil
	}
	u := make([]uint32, level*(g.m+1))
	g.upperBytes.Add(24 + 4*int64(len(u)))
	return &u
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// distance between a prepared query (normalised for Cosine) and a stored
// vector.
func (g *Graph) distance(q, v []float32) float32 {
	switch g.metric {
	case L2:
		return simd.L2Squared(q, v)
	case Cosine:
		// 1 − cos(q, v) = |q − v|²/2 for unit vectors; the squared distance
		// keeps its precision for near-duplicates, where 1 − dot cancels.
		return 0.5 * simd.L2Squared(q, v)
	default:
		return -simd.Dot(q, v)
	}
}

// distanceBounded is distance for a caller that only needs the value when
// it is at most bound: above it, it may return any larger value after
// reading only part of v.
func (g *Graph) distanceBounded(q, v []float32, bound float32) float32 {
	switch g.metric {
	case L2:
		return simd.L2SquaredBounded(q, v, bound)
	case Cosine:
		return 0.5 * simd.L2SquaredBounded(q, v, 2*bound)
	default:
		return -simd.Dot(q, v)
	}
}

// prepare checks a vector and returns the form the graph computes with: the
// vector itself, or a copy in buf normalised (Cosine) and in the graph's
// dimension order. The caller holds writeMu or orderMu shared, so the order
// cannot change under it.
func (g *Graph) prepare(v []float32, buf []float32) ([]float32, error) {
	if len(v) != g.dim {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrDimensionMismatch, len(v), g.dim)
	}
	var ss float64
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%w: element %d is %v", ErrInvalidVector, i, x)
		}
		ss += float64(x) * float64(x)
	}
	scale := 1.0
	if g.metric == Cosine {
		if ss == 0 {
			return nil, fmt.Errorf("%w: zero vector has no direction under the cosine metric", ErrInvalidVector)
		}
		scale = 1 / math.Sqrt(ss)
	}
	if g.perm == nil && g.metric != Cosine {
		return v, nil
	}
	buf = buf[:g.dim]
	if g.perm == nil {
		for i, x := range v {
			buf[i] = float32(float64(x) * scale)
		}
		return buf, nil
	}
	for i, j := range g.perm {
		buf[i] = float32(float64(v[j]) * scale)
	}
	return buf, nil
}

// reorderAt is the number of vectors from which the graph learns its
// dimension order.
const reorderAt = 1024

// maybeReorder learns the dimension order once the graph holds reorderAt
// vectors, for the metrics whose distances abort early.
func (g *Graph) maybeReorder() {
	if g.reordered.Load() || g.metric == Dot || g.dim < 64 || g.Len() < reorderAt {
		return
	}
	// A snapshot in progress reads vectors: rather than wait for it, leave
	// the reorder to a later Add.
	if !g.snapMu.TryLock() {
		return
	}
	defer g.snapMu.Unlock()
	g.reorder()
}

// reorder stores every vector with its dimensions sorted by decreasing
// variance, and from then on permutes incoming vectors and queries the same
// way. Distances do not change (a permutation preserves sums), but the
// bounded distance of a search, which stops reading a vector once its
// partial sum passes the current worst result, passes it sooner when the
// dimensions that differ most come first: on MNIST the border pixels, zero
// in nearly every image, move to the end, and a rejected candidate is read
// to less than half its length on average.
//
// Called with snapMu held.
func (g *Graph) reorder() {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if g.reordered.Load() {
		return
	}
	// Searches prepare their queries in the old order: let them finish.
	g.orderMu.Lock()
	defer g.orderMu.Unlock()
	g.mu.Lock()
	next := g.mu.next
	g.mu.Unlock()

	mean := make([]float64, g.dim)
	m2 := make([]float64, g.dim)
	var n float64
	for id := range next {
		if !g.inUse(id) {
			continue
		}
		n++
		for j, x := range g.vec(id) { // Welford's running variance
			d := float64(x) - mean[j]
			mean[j] += d / n
			m2[j] += d * (float64(x) - mean[j])
		}
	}
	perm := make([]uint32, g.dim)
	for j := range perm {
		perm[j] = uint32(j)
	}
	slices.SortStableFunc(perm, func(a, b uint32) int { return cmp.Compare(m2[b], m2[a]) })
	tmp := make([]float32, g.dim)
	for id := range next {
		if !g.inUse(id) {
			continue
		}
		v := g.vec(id)
		for i, j := range perm {
			tmp[i] = v[j]
		}
		copy(v, tmp)
	}
	g.perm = perm
	g.reordered.Store(true)
}
