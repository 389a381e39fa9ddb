package pg

import "testing"

func TestOperationIsABoundedVerbWhateverTheStatement(t *testing.T) {
	t.Parallel()
	tests := []struct{ sql, want string }{
		{"SELECT id FROM orders WHERE id = $1", "select"},
		{"  \n\tinsert INTO outbox (event) VALUES ($1)", "insert"},
		{"(SELECT 1) UNION (SELECT 2)", "select"},
		{"WITH x AS (SELECT 1) UPDATE stock SET n = 0", "with"},
		{"begin", "begin"},
		{"COMMIT;", "commit"},
		{"SELECT pg_advisory_lock(1)", "select"},
		{"VACUUM orders", "other"},
		{"DROP TABLE users; -- 7f3c2a1e-ids-and-anything", "other"},
		{"", "other"},
	}
	for _, tt := range tests {
		if got := operation(tt.sql); got != tt.want {
			t.Errorf("operation(%q) = %q, want %q", tt.sql, got, tt.want)
		}
	}
}
