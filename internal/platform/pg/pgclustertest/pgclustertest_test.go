package pgclustertest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/platform/pg/pgclustertest"
)

func TestACommittedRowSurvivesEachKindOfRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server; left out by -short")
	}
	c := pgclustertest.Start(t)
	ctx := t.Context()
	execSQL(t, c.URL("postgres"), `CREATE TABLE ledger (n int)`)
	for i, mode := range []string{"fast", "immediate"} {
		t.Run(mode, func(t *testing.T) {
			execSQL(t, c.URL("postgres"), `INSERT INTO ledger VALUES ($1)`, i)
			if err := c.Restart(ctx, mode); err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(ctx, c.URL("postgres"))
			if err != nil {
				t.Fatalf("connect after the restart: %v", err)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM ledger`).Scan(&n); err != nil || n != i+1 {
				t.Errorf("after a %s restart: %d rows (%v), want %d", mode, n, err, i+1)
			}
		})
	}
}

func execSQL(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}
