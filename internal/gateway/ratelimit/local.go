package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// localLimiters holds one in-process token bucket per class and key, for
// when Redis cannot answer. Keys come from clients (IP addresses, user IDs),
// so the set is bounded: an entry idle long enough to have refilled
// completely is dropped, since a fresh bucket would behave the same, and
// beyond maxKeys entries the least recently used one goes first.
type localLimiters struct {
	maxKeys int

	mu    sync.Mutex
	byKey map[string]*list.Element // of *localEntry
	lru   *list.List               // most recently used at the front
}

type localEntry struct {
	key     string
	limit   Limit
	bucket  *rate.Limiter
	used    time.Time
	idleTTL time.Duration
}

func newLocalLimiters(maxKeys int) *localLimiters {
	return &localLimiters{maxKeys: maxKeys, byKey: map[string]*list.Element{}, lru: list.New()}
}

// allow takes one event from key's bucket at now, or reports when the
// next one will be possible.
func (s *localLimiters) allow(key string, l Limit, now time.Time) Result {
	b := s.bucket(key, l, now)
	res := Result{Limit: l}
	r := b.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now) // a refused request must not use up budget
		res.RetryAfter = wait
	} else {
		res.Allowed = true
	}
	tokens := max(b.TokensAt(now), 0)
	res.Remaining = int(tokens)
	res.ResetAfter = time.Duration((float64(l.Burst) - tokens) / float64(b.Limit()) * float64(time.Second))
	return res
}

// bucket returns key's bucket, making it if needed. A key whose limit
// changed (the configuration was reloaded) starts afresh.
func (s *localLimiters) bucket(key string, l Limit, now time.Time) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evict(now)
	if el, ok := s.byKey[key]; ok {
		e := el.Value.(*localEntry)
		if e.limit == l {
			e.used = now
			s.lru.MoveToFront(el)
			return e.bucket
		}
		s.remove(el)
	}
	e := &localEntry{
		key:     key,
		limit:   l,
		bucket:  rate.NewLimiter(rate.Limit(float64(l.Rate)/l.Period.Seconds()), l.Burst),
		used:    now,
		idleTTL: max(l.refill(), time.Minute),
	}
	s.byKey[key] = s.lru.PushFront(e)
	return e.bucket
}

// evict makes room for one entry and drops idle ones from the back of the
// list. It stops at the first entry still in use, so an idle entry behind
// it waits for a later call or for the size cap: lazy, but O(1) per call
// on average, which matters under a flood of new keys.
func (s *localLimiters) evict(now time.Time) {
	for el := s.lru.Back(); el != nil; el = s.lru.Back() {
		e := el.Value.(*localEntry)
		if s.lru.Len() < s.maxKeys && now.Sub(e.used) < e.idleTTL {
			return
		}
		s.remove(el)
	}
}

func (s *localLimiters) remove(el *list.Element) {
	delete(s.byKey, el.Value.(*localEntry).key)
	s.lru.Remove(el)
}

// len is the number of buckets held, for tests.
func (s *localLimiters) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}
