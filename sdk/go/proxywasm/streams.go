package proxywasm

// streamTable maps live HTTP context ids to their entries. Hosts hand out
// context ids in increasing order and few are live at once, so a slot
// array indexed by the id's low bits almost never collides; it is grown
// (doubled and refilled) when one does, up to maxSlots; past that,
// colliding ids go to an overflow map, so that a host with unusual ids
// costs speed, never unbounded memory. A Go map costs several times as
// much per lookup in a Wasm guest, whose runtime hashes in software, and
// every callback of every request looks its context up.
type streamTable struct {
	slots    []streamSlot
	n        int
	overflow map[uint32]streamEntry
}

// maxSlots bounds the slot array (4096 slots of 32 bytes).
const maxSlots = 4096

type streamSlot struct {
	id    uint32 // 0: empty (the host never uses 0 for a context)
	entry streamEntry
}

// get returns the entry of id.
func (t *streamTable) get(id uint32) (streamEntry, bool) {
	if len(t.slots) == 0 || id == 0 {
		return streamEntry{}, false
	}
	s := &t.slots[id&uint32(len(t.slots)-1)]
	if s.id != id {
		if len(t.overflow) > 0 {
			e, ok := t.overflow[id]
			return e, ok
		}
		return streamEntry{}, false
	}
	return s.entry, true
}

// put adds or replaces the entry of id (id != 0).
func (t *streamTable) put(id uint32, e streamEntry) {
	if len(t.slots) == 0 {
		t.slots = make([]streamSlot, 64)
	}
	for {
		s := &t.slots[id&uint32(len(t.slots)-1)]
		switch s.id {
		case 0:
			s.id, s.entry = id, e
			t.n++
			return
		case id:
			s.entry = e
			return
		}
		if _, ok := t.overflow[id]; ok {
			t.overflow[id] = e
			return
		}
		if !t.grow() {
			if t.overflow == nil {
				t.overflow = make(map[uint32]streamEntry)
			}
			t.overflow[id] = e
			t.n++
			return
		}
	}
}

// del removes id; it reports whether id was there.
func (t *streamTable) del(id uint32) bool {
	if len(t.slots) == 0 || id == 0 {
		return false
	}
	s := &t.slots[id&uint32(len(t.slots)-1)]
	if s.id != id {
		if _, ok := t.overflow[id]; ok {
			delete(t.overflow, id)
			t.n--
			return true
		}
		return false
	}
	*s = streamSlot{}
	t.n--
	return true
}

// grow doubles the slot array, up to maxSlots, until every id in it has a
// slot of its own; it reports false, leaving the array as it was, when no
// size up to maxSlots does.
func (t *streamTable) grow() bool {
	for size := 2 * len(t.slots); size <= maxSlots; size *= 2 {
		slots := make([]streamSlot, size)
		ok := true
		for _, s := range t.slots {
			if s.id == 0 {
				continue
			}
			d := &slots[s.id&uint32(size-1)]
			if d.id != 0 {
				ok = false
				break
			}
			*d = s
		}
		if ok {
			t.slots = slots
			return true
		}
	}
	return false
}
