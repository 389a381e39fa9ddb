package orderdb

// Queued is how many transactions wait in the group's queue, for tests
// that make a group before they let it go.
func (s *Store) Queued() int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

// ErrGroupRead is errGroupRead, for tests.
var ErrGroupRead = errGroupRead

// Sending is how many of the group's slots are taken.
func (s *Store) Sending() int { return len(s.group.slots) }
