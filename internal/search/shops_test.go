package search_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/search"
)

// shopsAt is the users service as SyncShops reads it: the shops it holds,
// of which a read returns those changed at or after since; or an error.
type shopsAt struct {
	shops []search.Shop
	err   error
	asked *[]time.Time
}

func (s shopsAt) ShopsChanged(_ context.Context, since time.Time, each func([]search.Shop) error) error {
	*s.asked = append(*s.asked, since)
	if s.err != nil {
		return s.err
	}
	var out []search.Shop
	for _, sh := range s.shops {
		if !sh.ChangedAt.Before(since) {
			out = append(out, sh)
		}
	}
	return each(out)
}

// TestEachReadOfShopsStartsAMinuteBeforeTheNewestChangeSeen: the next
// read overlaps the last by a minute (a change committed late is found),
// never starts later than where it stood, and a failed read starts again
// from the same place.
func TestEachReadOfShopsStartsAMinuteBeforeTheNewestChangeSeen(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	held := []search.Shop{
		{SellerID: "s1", Name: "Marigold Mercantile", Version: 1, ChangedAt: t0},
		{SellerID: "s2", Name: "Kestrel & Wren", Version: 2, ChangedAt: t0.Add(10 * time.Minute)},
	}
	cases := []struct {
		name  string
		since time.Time
		err   error
		want  time.Time
	}{
		{"the first read, of every shop", time.Time{}, nil, t0.Add(9 * time.Minute)},
		{"a read that finds nothing newer keeps its start", t0.Add(9 * time.Minute), nil, t0.Add(9 * time.Minute)},
		{"a read that found only the overlap keeps its start", t0.Add(9*time.Minute + 30*time.Second), nil, t0.Add(9*time.Minute + 30*time.Second)},
		{"a failed read starts again where it stood", t0, errors.New("users down"), t0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			engine := openIndex(t)
			var asked []time.Time
			s := search.NewService(engine, catalogAt{}, shopsAt{shops: held, err: tc.err, asked: &asked}, slog.New(slog.DiscardHandler), search.Config{})
			next, err := s.SyncShops(t.Context(), tc.since)
			if (err != nil) != (tc.err != nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if !next.Equal(tc.want) || len(asked) != 1 || !asked[0].Equal(tc.since) {
				t.Errorf("read from %v, next from %v; want from %v, next from %v", asked, next, tc.since, tc.want)
			}
		})
	}
}
