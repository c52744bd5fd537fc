// Package hnsw is ragd's vector index: one hierarchical navigable small world
// graph (Malkov & Yashunin, "Efficient and robust approximate nearest
// neighbor search using Hierarchical Navigable Small World graphs", 2016)
// over vectors stored in contiguous chunks.
//
// # What it owns
//
// A Graph stores each vector once, in a slab of dim-float rows that grows by
// doubling chunks (no per-vector allocation, nothing ever moves), with the
// level-0 neighbour lists in a parallel slab of fixed-size rows (a count and
// 2·M ids). The few nodes on upper levels have their own small lists. Nodes
// are slots (NodeID); callers name vectors by their own uint32 keys, which
// the graph maps to slots, so that slots can be reclaimed and reused.
//
// Build: the insertion of the paper's algorithm 1 with the neighbour
// selection heuristic of algorithm 4, levels drawn with mL = 1/ln(M) from a
// hash of (Seed, key), level 0 with M0 = 2·M links.
//
// Search: a greedy descent through the upper levels, then a beam search of
// width ef on level 0. Distances are "smaller is nearer": squared Euclidean
// (L2), 1 − cosine (Cosine, on vectors normalised at insertion), −dot (Dot).
// Under L2 and Cosine, a candidate farther than the current worst result is
// rejected as soon as its partial squared distance passes it
// (simd.L2SquaredBounded): the result is the same, with fewer bytes read.
//
// Filtered search: an AllowList (a *roaring.Bitmap satisfies it) restricts
// the results. A selective filter is answered by an exact scan of the
// allowed vectors; a broad one walks the graph, looking through rejected
// nodes to their allowed neighbours (ACORN-1), with the exact scan as a
// fallback so k results come back whenever k allowed vectors exist.
//
// Delete marks a tombstone: the vector leaves the results at once and its
// node keeps serving as a waypoint. Compaction (CompactStep in bounded
// steps, or Compact at once) repairs the lists that point at tombstones
// from their neighbourhoods and frees the slots for reuse: the in-place
// consolidation of FreshDiskANN, run in the background like Weaviate's
// tombstone cleanup. The caller decides when (the index compacts a shard
// once tombstones pass a fraction of its nodes, as Qdrant's vacuum
// optimizer does).
//
// Save and Load write and read a versioned, checksummed snapshot; the format
// is in docs/format/hnsw.md. A damaged file yields a *CorruptionError, never
// a partial graph.
//
// # Concurrency
//
// Every method of Graph is safe for concurrent use, and no search or write
// waits for a snapshot or a compaction:
//
//   - Search never blocks: neighbour lists are read with atomic loads while
//     writers change them under striped node locks, a node becomes
//     reachable only after its vector is written, and keys map to slots
//     through a lock-free table (the exact filtered scan and Len take no
//     lock).
//   - Add and Delete take the allocation lock for an instant and the node
//     locks of the lists they change.
//   - Save copies each node's lists under that node's lock, one node at a
//     time, and writes vectors straight from the slab: it holds nothing an
//     Add or a search waits for. A snapshot holds every write that returned
//     before Save began, and perhaps some that ran during it.
//   - A compaction step repairs lists under the node locks like an Add;
//     before it frees slots it waits, through a grace period that delays
//     no one, for the searches and inserts that began before the repair.
//   - The one-time dimension reorder at reorderAt vectors waits for the
//     searches and writes in flight, and they for it.
//
// The package neither logs nor takes a context: it returns errors, and
// Stats reports its size.
package hnsw
