package hnsw

import (
	"sync/atomic"
	"time"
)

// keyMap maps the caller's keys to slots. Readers (the exact filtered scan,
// Contains) look keys up with three atomic loads and no lock; writers (Add,
// Delete, Load) change it while holding the graph's mu, so that a key's
// presence and its slot change together with the live count.
//
// It is a three-level radix table over the 32 bits of a key: 12 bits pick a
// middle table, 10 a leaf, 10 an entry. Tables are allocated on first use,
// so dense keys (the index's document numbers, counted from 1) cost about
// 4 bytes each, and a scattered key at most one 8 KiB middle table and one
// 4 KiB leaf. An entry holds slot+1; 0 means absent.
type keyMap struct {
	dir [1 << keyDirBits]atomic.Pointer[keyMid]
}

const (
	keyDirBits  = 12
	keyMidBits  = 10
	keyLeafBits = 10
)

type (
	keyMid  [1 << keyMidBits]atomic.Pointer[keyLeaf]
	keyLeaf [1 << keyLeafBits]atomic.Uint32
)

func (m *keyMap) entry(key uint32, create bool) *atomic.Uint32 {
	d := &m.dir[key>>(keyMidBits+keyLeafBits)]
	mid := d.Load()
	if mid == nil {
		if !create {
			return nil
		}
		mid = new(keyMid)
		d.Store(mid)
	}
	l := &mid[(key>>keyLeafBits)&(1<<keyMidBits-1)]
	leaf := l.Load()
	if leaf == nil {
		if !create {
			return nil
		}
		leaf = new(keyLeaf)
		l.Store(leaf)
	}
	return &leaf[key&(1<<keyLeafBits-1)]
}

// get returns key's slot. Safe without locks.
func (m *keyMap) get(key uint32) (NodeID, bool) {
	e := m.entry(key, false)
	if e == nil {
		return 0, false
	}
	v := e.Load()
	return NodeID(v - 1), v != 0
}

// set maps key to id. Called with the graph's mu held.
func (m *keyMap) set(key uint32, id NodeID) { m.entry(key, true).Store(uint32(id) + 1) }

// remove unmaps key. Called with the graph's mu held.
func (m *keyMap) remove(key uint32) {
	if e := m.entry(key, false); e != nil {
		e.Store(0)
	}
}

// each calls fn for every mapped key, in key order; for tests and checks.
func (m *keyMap) each(fn func(key uint32, id NodeID)) {
	for i := range m.dir {
		mid := m.dir[i].Load()
		if mid == nil {
			continue
		}
		for j := range mid {
			leaf := mid[j].Load()
			if leaf == nil {
				continue
			}
			for k := range leaf {
				if v := leaf[k].Load(); v != 0 {
					fn(uint32(i)<<(keyMidBits+keyLeafBits)|uint32(j)<<keyLeafBits|uint32(k), NodeID(v-1))
				}
			}
		}
	}
}

// graceGuard tells the compactor when every search and insert that might
// still hold a slot it is about to reclaim has finished, without ever making
// a search or an insert wait: a two-counter grace period, as in userspace
// RCU. Readers enter and exit; synchronize flips the phase and waits until
// the readers of the old phase are gone. New readers count in the new phase
// and do not delay it.
type graceGuard struct {
	phase  atomic.Uint32
	_      [60]byte
	active [2]struct {
		n atomic.Int64
		_ [56]byte
	}
}

// enter registers a reader and returns the token to pass to exit.
func (r *graceGuard) enter() uint32 {
	for {
		p := r.phase.Load() & 1
		r.active[p].n.Add(1)
		if r.phase.Load()&1 == p {
			return p
		}
		// The phase flipped between the load and the count: count in the
		// new phase instead, so synchronize never waits for a newcomer.
		r.active[p].n.Add(-1)
	}
}

func (r *graceGuard) exit(p uint32) { r.active[p].n.Add(-1) }

// synchronize returns once every reader that entered before the call has
// exited. Callers serialise their calls (the graph's compactMu).
func (r *graceGuard) synchronize() {
	p := (r.phase.Add(1) - 1) & 1
	wait := 20 * time.Microsecond
	for r.active[p].n.Load() != 0 {
		time.Sleep(wait)
		wait = min(2*wait, time.Millisecond)
	}
}
