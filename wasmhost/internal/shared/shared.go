// Package shared implements the Proxy-Wasm shared key-value store (with
// compare-and-swap) and shared queues. One Store serves every plugin of a
// host; keys and queue names are scoped by VM id.
package shared

import (
	"errors"
	"strings"
	"sync"
)

// Errors returned by Store; the host maps them to ABI status codes.
var (
	ErrNotFound    = errors.New("not found")
	ErrCASMismatch = errors.New("cas mismatch")
	ErrEmpty       = errors.New("queue empty")
)

// Notifier receives "queue has data" notifications. QueueReady must not
// block and must not call back into the Store.
type Notifier interface {
	QueueReady(queueID uint32)
}

type entry struct {
	value []byte
	cas   uint32
}

type queueKey struct{ vmID, name string }

type queue struct {
	items [][]byte
	owner Notifier
}

// Store is safe for concurrent use. String and byte arguments may alias the
// caller's (guest) memory: the store copies whatever it keeps. The zero value is not usable; use New.
type Store struct {
	mu      sync.Mutex
	data    map[string]map[string]*entry
	queues  map[uint32]*queue
	byName  map[queueKey]uint32
	nextQID uint32
	nextCAS uint32
}

// New returns an empty store.
func New() *Store {
	return &Store{
		data:   make(map[string]map[string]*entry),
		queues: make(map[uint32]*queue),
		byName: make(map[queueKey]uint32),
	}
}

// Get appends the value of key in vmID to dst and returns it with its CAS
// token, or ErrNotFound.
func (s *Store) Get(dst []byte, vmID, key string) ([]byte, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[vmID][key]
	if !ok {
		return dst, 0, ErrNotFound
	}
	return append(dst, e.value...), e.cas, nil
}

// Set stores a copy of value under key in vmID. When cas is non-zero it must
// equal the key's current token (a key that does not exist has none and
// therefore mismatches), otherwise ErrCASMismatch.
func (s *Store) Set(vmID, key string, value []byte, cas uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.data[vmID]
	if m == nil {
		m = make(map[string]*entry)
		s.data[strings.Clone(vmID)] = m
	}
	e := m[key]
	if cas != 0 && (e == nil || e.cas != cas) {
		return ErrCASMismatch
	}
	if e == nil {
		e = &entry{}
		m[strings.Clone(key)] = e
	}
	e.value = append(e.value[:0:0], value...)
	s.nextCAS++
	if s.nextCAS == 0 {
		s.nextCAS = 1
	}
	e.cas = s.nextCAS
	return nil
}

// RegisterQueue creates (or takes over) the queue name in vmID; owner gets
// the notifications from now on. It returns the queue id.
func (s *Store) RegisterQueue(vmID, name string, owner Notifier) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := queueKey{vmID, name}
	if id, ok := s.byName[k]; ok {
		s.queues[id].owner = owner
		return id
	}
	s.nextQID++
	id := s.nextQID
	s.byName[queueKey{strings.Clone(vmID), strings.Clone(name)}] = id
	s.queues[id] = &queue{owner: owner}
	return id
}

// ResolveQueue returns the id of an existing queue, or ErrNotFound.
func (s *Store) ResolveQueue(vmID, name string) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[queueKey{vmID, name}]
	if !ok {
		return 0, ErrNotFound
	}
	return id, nil
}

// Enqueue appends a copy of value to queue id and notifies its owner.
func (s *Store) Enqueue(id uint32, value []byte) error {
	s.mu.Lock()
	q, ok := s.queues[id]
	if !ok {
		s.mu.Unlock()
		return ErrNotFound
	}
	q.items = append(q.items, append([]byte(nil), value...))
	owner := q.owner
	s.mu.Unlock()
	if owner != nil {
		owner.QueueReady(id)
	}
	return nil
}

// Dequeue appends the oldest item of queue id to dst, or returns ErrEmpty /
// ErrNotFound.
func (s *Store) Dequeue(dst []byte, id uint32) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[id]
	if !ok {
		return dst, ErrNotFound
	}
	if len(q.items) == 0 {
		return dst, ErrEmpty
	}
	dst = append(dst, q.items[0]...)
	q.items[0] = nil
	q.items = q.items[1:]
	return dst, nil
}

// ForgetOwner stops notifications to owner on every queue it owns (used when
// an instance is discarded).
func (s *Store) ForgetOwner(owner Notifier) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		if q.owner == owner {
			q.owner = nil
		}
	}
}
