package server

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeConn is a connection that only records its closing.
type fakeConn struct {
	net.Conn
	name   string
	closed *[]string
}

func (c fakeConn) Close() error {
	*c.closed = append(*c.closed, c.name)
	return nil
}

// step is one connection-state change the server reports to the hook.
type step struct {
	conn  string
	state http.ConnState
}

// replay reports steps to the hook of a bound of max connections and
// returns the bound with the names of the connections it closed, in order.
func replay(max int, steps []step) (b *connBound, closed []string) {
	b = newConnBound(max, prometheus.NewGauge(prometheus.GaugeOpts{Name: "conns"}))
	conns := map[string]net.Conn{}
	for _, s := range steps {
		if conns[s.conn] == nil {
			conns[s.conn] = fakeConn{name: s.conn, closed: &closed}
		}
		b.track(conns[s.conn], s.state)
	}
	return b, closed
}

// Each case's connections are named; the hook's closings are compared by
// name, in order. A closing's own StateClosed comes later, as the
// server's goroutine for the connection notices it.
func TestAListenerAtItsBoundClosesOneConnectionForEachThatArrivesOrGoesIdle(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		steps []step
		want  []string
	}{
		{
			name: "below the bound no connection is closed",
			max:  3,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateIdle},
				{"b", http.StateNew}, {"b", http.StateIdle},
			},
		},
		{
			name: "a connection arriving at the bound closes only the one idle longest",
			max:  3,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateIdle},
				{"b", http.StateNew}, {"b", http.StateIdle},
				{"c", http.StateNew},
			},
			want: []string{"a"},
		},
		{
			name: "a connection made busy again is no longer idle, so it is not closed",
			max:  3,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateIdle},
				{"b", http.StateNew}, {"b", http.StateIdle},
				{"a", http.StateActive},
				{"c", http.StateNew},
			},
			want: []string{"b"},
		},
		{
			name: "a closing frees its slot at once, so the next event closes no other for it",
			max:  3,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateIdle},
				{"b", http.StateNew}, {"b", http.StateIdle},
				{"c", http.StateNew}, {"c", http.StateActive},
				{"c", http.StateIdle},
			},
			want: []string{"a"},
		},
		{
			name: "a closed connection's own StateClosed does not free its slot twice",
			max:  3,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateIdle},
				{"b", http.StateNew}, {"b", http.StateIdle},
				{"c", http.StateNew},
				{"a", http.StateClosed},
				{"d", http.StateNew},
			},
			want: []string{"a", "b"},
		},
		{
			name: "a connection closed here that answers once more is not made idle again",
			max:  2,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateIdle},
				{"b", http.StateNew},
				{"a", http.StateActive}, {"a", http.StateIdle},
				{"c", http.StateNew},
			},
			want: []string{"a"},
		},
		{
			name: "a connection going idle at the bound with none idle closes itself",
			max:  2,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateActive},
				{"b", http.StateNew}, {"b", http.StateActive},
				{"a", http.StateIdle},
			},
			want: []string{"a"},
		},
		{
			name: "a closed connection leaves the idle set and frees its slot",
			max:  3,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateIdle},
				{"b", http.StateNew}, {"b", http.StateIdle},
				{"a", http.StateClosed},
				{"c", http.StateNew},
				{"d", http.StateNew},
			},
			want: []string{"b"},
		},
		{
			name: "an unbounded listener closes nothing",
			max:  0,
			steps: []step{
				{"a", http.StateNew}, {"a", http.StateIdle},
				{"b", http.StateNew}, {"b", http.StateIdle},
				{"c", http.StateNew}, {"c", http.StateIdle},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, closed := replay(tc.max, tc.steps)
			if !slices.Equal(closed, tc.want) {
				t.Errorf("closed %v, want %v", closed, tc.want)
			}
		})
	}
}

func TestARequestAtTheBoundClosesItsConnection(t *testing.T) {
	tests := []struct {
		name      string
		steps     []step
		wantClose bool
	}{
		{"below the bound the connection is kept", []step{{"a", http.StateNew}}, false},
		{"an arrival at the bound that closed an idle connection leaves room: the connection is kept", []step{
			{"a", http.StateNew}, {"a", http.StateIdle}, {"b", http.StateNew}, {"b", http.StateIdle}, {"c", http.StateNew},
		}, false},
		{"at the bound with every connection busy the connection closes", []step{
			{"a", http.StateNew}, {"b", http.StateNew}, {"c", http.StateNew},
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := replay(3, tc.steps)
			w := httptest.NewRecorder()
			b.closeAtBound(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			if got := w.Header().Get("Connection") == "close"; got != tc.wantClose {
				t.Errorf("Connection: close is %v, want %v", got, tc.wantClose)
			}
		})
	}
}
