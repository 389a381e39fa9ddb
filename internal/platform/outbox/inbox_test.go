package outbox_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/outbox"
)

// seenInTx calls Seen in a transaction of its own that commits, or rolls
// back when commit is false, and returns what Seen reported.
func seenInTx(t *testing.T, pool *pgxpool.Pool, commit bool, consumer, eventID string) bool {
	t.Helper()
	ctx := testContext(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	seen, err := outbox.Seen(ctx, tx, consumer, eventID)
	if err != nil {
		t.Fatalf("Seen(%q, %q): %v", consumer, eventID, err)
	}
	if commit {
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return seen
}

func TestSeenReportsWhetherTheConsumerHadAlreadyRecordedTheEvent(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	// The steps run in order, each on what the ones before left.
	steps := []struct {
		name     string
		consumer string
		eventID  string
		commit   bool
		want     bool
	}{
		{"a first delivery is new", "orders.products", "e1", true, false},
		{"a redelivery is seen", "orders.products", "e1", true, true},
		{"another consumer keeps its own record", "orders.audit", "e1", true, false},
		{"another event is new, in a transaction that rolls back", "orders.products", "e2", false, false},
		{"a rolled-back record leaves the event new", "orders.products", "e2", true, false},
		{"the committed record then makes it seen", "orders.products", "e2", true, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := seenInTx(t, pool, s.commit, s.consumer, s.eventID); got != s.want {
				t.Errorf("Seen(%q, %q) = %v, want %v", s.consumer, s.eventID, got, s.want)
			}
		})
	}
}

func TestARolledBackSeenLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	seenInTx(t, pool, false, "orders.products", "e1")
	var n int
	if err := pool.QueryRow(testContext(t), `SELECT count(*) FROM inbox`).Scan(&n); err != nil {
		t.Fatalf("count inbox rows: %v", err)
	}
	if n != 0 {
		t.Errorf("%d inbox rows after a rolled-back Seen, want 0", n)
	}
}

func TestSeenWaitsForAConcurrentRecordOfTheSameEvent(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	ctx := testContext(t)
	first, err := pool.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = first.Rollback(ctx) }()
	if seen, err := outbox.Seen(ctx, first, "orders.products", "e1"); err != nil || seen {
		t.Fatalf("first Seen = %v, %v; want false, nil", seen, err)
	}

	second := make(chan bool, 1)
	go func() {
		var seen bool
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			seen, err = outbox.Seen(ctx, tx, "orders.products", "e1")
			return err
		})
		if err != nil {
			t.Errorf("second Seen: %v", err)
		}
		second <- seen
	}()
	// The server says when the second transaction waits on the first's
	// row lock: only then is "it did not return" a finding.
	eventually.True(t, "the second Seen waits on a lock", func() bool {
		var waiting int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && waiting > 0
	})
	select {
	case seen := <-second:
		t.Fatalf("second Seen returned %v before the first transaction ended", seen)
	default:
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if seen := <-second; !seen {
		t.Error("second Seen = false after the first committed, want true")
	}
}

func TestSeenRejectsAnEmptyConsumerOrEventID(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	for _, tt := range []struct{ name, consumer, eventID string }{
		{"without consumer", "", "e1"},
		{"without event id", "orders.products", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, err := outbox.Seen(ctx, tx, tt.consumer, tt.eventID)
				return err
			})
			if err == nil {
				t.Error("Seen: want an error")
			}
		})
	}
}

func TestPruneInboxDeletesOnlyEntriesOlderThanTheCutoff(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	ctx := testContext(t)
	for _, id := range []string{"old1", "old2", "new"} {
		seenInTx(t, pool, true, "orders.products", id)
	}
	if _, err := pool.Exec(ctx, `UPDATE inbox SET received_at = now() - interval '2 days' WHERE event_id LIKE 'old%'`); err != nil {
		t.Fatalf("age entries: %v", err)
	}

	n, err := outbox.PruneInbox(ctx, pool, 24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("PruneInbox = %d, %v; want 2, nil", n, err)
	}
	for _, tt := range []struct {
		id   string
		want bool
	}{{"old1", false}, {"old2", false}, {"new", true}} {
		if got := seenInTx(t, pool, false, "orders.products", tt.id); got != tt.want {
			t.Errorf("after pruning, Seen(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestPruneInboxRefusesANonPositiveAge(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	seenInTx(t, pool, true, "orders.products", "e1")
	for _, age := range []time.Duration{0, -time.Hour} {
		if _, err := outbox.PruneInbox(testContext(t), pool, age); err == nil {
			t.Errorf("PruneInbox(%v): want an error", age)
		}
	}
	if !seenInTx(t, pool, false, "orders.products", "e1") {
		t.Error("the entry was pruned")
	}
}
