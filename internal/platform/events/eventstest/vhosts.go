package eventstest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// batchSize is how many vhosts one rabbitmqctl call makes: about the
// number of tests a package runs at once, so most packages need one or two.
const batchSize = 16

// vhostPrefix starts the name of every vhost this package makes; the pid
// of the process that made it follows.
const vhostPrefix = "eventstest-"

// vhosts is the process's supply of fresh vhosts.
var vhosts pool

// pool hands out vhosts made in batches and collects those to delete.
type pool struct {
	mu      sync.Mutex
	user    string   // the user of the free vhosts' permissions
	free    []string // made, not handed out yet
	retired []string // handed out to tests that have ended
	swept   bool     // abandoned vhosts of earlier processes are gone
}

// take returns a vhost no test has used, making a batch when none is
// left. Callers wait for one another: a batch serves them all.
func (p *pool) take(tb testing.TB, user string) string {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 || p.user != user {
		p.refill(tb, user)
	}
	name := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return name
}

// retire marks a vhost for deletion with the next batch.
func (p *pool) retire(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retired = append(p.retired, name)
}

// refill deletes the retired vhosts (and, the first time, those that
// processes no longer running left behind) and makes a batch, in one
// rabbitmqctl call.
func (p *pool) refill(tb testing.TB, user string) {
	tb.Helper()
	batch := make([]string, batchSize)
	for i := range batch {
		batch[i] = fmt.Sprintf("%s%d-%s", vhostPrefix, os.Getpid(), strings.ReplaceAll(uuid.NewString(), "-", "")[:12])
	}
	rabbitmqctl(tb, "eval", refillScript(p.retired, batch, user, !p.swept))
	p.free, p.retired, p.user, p.swept = batch, nil, user, true
}

// refillScript is the Erlang that deletes the vhosts named in remove
// (and, when sweep is set, every vhost of this package whose process is
// gone, by /proc on the broker's host, which rabbitmqctl shares), then
// adds those named in add with every permission for user. Names and user
// are written as binaries of their bytes. A deletion may fail harmlessly:
// another process's sweep may have deleted the same abandoned vhost.
func refillScript(remove, add []string, user string, sweep bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Remove = %s,\n", binaries(remove))
	if sweep {
		fmt.Fprintf(&b, `Abandoned = [V || V <- rabbit_vhost:list_names(),
	case re:run(V, "^%s([0-9]+)-", [{capture, all_but_first, list}]) of
		{match, [Pid]} -> not filelib:is_dir("/proc/" ++ Pid);
		_ -> false
	end],
`, vhostPrefix)
	} else {
		b.WriteString("Abandoned = [],\n")
	}
	fmt.Fprintf(&b, `[catch rabbit_vhost:delete(V, <<"eventstest">>) || V <- Remove ++ Abandoned],
[begin
	ok = rabbit_vhost:add(V, <<"eventstest">>),
	ok = rabbit_auth_backend_internal:set_permissions(%s, V, <<".*">>, <<".*">>, <<".*">>, <<"eventstest">>)
 end || V <- %s],
ok.`, binary(user), binaries(add))
	return b.String()
}

func binaries(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = binary(n)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// binary writes s as an Erlang binary of its bytes, which needs no
// escaping whatever s holds.
func binary(s string) string {
	bytes := make([]string, len(s))
	for i := range len(s) {
		bytes[i] = strconv.Itoa(int(s[i]))
	}
	return "<<" + strings.Join(bytes, ",") + ">>"
}
