package hnsw

import "fmt"

// Delete removes key from the graph. The vector stops appearing in results
// at once; its node stays in the graph as a tombstone that searches walk
// through until a compaction (Compact, CompactStep) repairs its neighbours'
// links and reclaims the slot. Delete runs alongside searches, Adds, Save
// and compaction.
func (g *Graph) Delete(key uint32) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	id, ok := g.keys.get(key)
	if !ok {
		return fmt.Errorf("%w: %d", ErrNotFound, key)
	}
	g.setDeleted(id, true)
	g.keys.remove(key)
	g.live.Add(-1)
	g.mu.deleted++
	return nil
}
