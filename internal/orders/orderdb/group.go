package orderdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
)

// maxGroup bounds the transactions one group commits together: a group
// the server refuses is sent again member by member, so its worst case is
// twice that many round trips, and its callers wait for all of them.
const maxGroup = 16

// group commits transactions that only write in groups (ADR 0060): while
// all of its slots are sending, the transactions that come in queue, and
// the next slot free sends all of them, up to maxGroup, as one. A group
// costs the server one BEGIN, one COMMIT and one flush of its WAL, and a
// product bought in every transaction of it has its stock row locked once;
// that is most of what a checkout costs it. A transaction that comes in
// while a slot is free is sent at once, alone, so a quiet store waits for
// nothing.
type group struct {
	pool *pgxpool.Pool
	// slots holds a token for each group being sent.
	slots chan struct{}

	mu    sync.Mutex
	queue []*job
}

// job is one caller's transaction in the group's queue.
type job struct {
	tx    *tx
	taken chan struct{} // closed when the job leaves the queue to be sent
	err   error
	done  chan struct{} // closed when err is final
}

// newGroup returns a group sending on pool, with half of its connections
// as slots: the other half stays for reads and for other transactions.
func newGroup(pool *pgxpool.Pool) *group {
	return &group{pool: pool, slots: make(chan struct{}, max(1, pool.Config().MaxConns/2))}
}

// InGroupTx runs fn in a transaction that it may share with other callers
// of InGroupTx (ADR 0060). fn may only queue a checkout's writes: a Tx
// method that reads fails. Each caller's writes still commit all or none,
// and each caller's answer stands on its own: when the server refuses a
// group, its members are sent again one by one.
func (s *Store) InGroupTx(ctx context.Context, fn func(orders.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &tx{pii: s.pii}
	if err := fn(t); err != nil {
		return err
	}
	if t.empty() {
		return nil
	}
	return refusal(s.group.do(ctx, &job{tx: t, taken: make(chan struct{}), done: make(chan struct{})}))
}

// do queues j and waits for its answer, sending groups (j's or others')
// while a slot is free and j waits in the queue. A caller whose ctx ends
// while j waits there takes it out; once j is being sent, it waits for
// its outcome.
func (g *group) do(ctx context.Context, j *job) error {
	g.mu.Lock()
	g.queue = append(g.queue, j)
	g.mu.Unlock()
	for {
		select {
		case <-j.taken:
			<-j.done
			return j.err
		case <-ctx.Done():
			if g.withdraw(j) {
				return ctx.Err()
			}
			<-j.done // it left the queue to be sent
			return j.err
		case g.slots <- struct{}{}:
			if g.lead(ctx, j) {
				return ctx.Err()
			}
		}
	}
}

// withdraw takes j out of the queue and reports whether it was there.
func (g *group) withdraw(j *job) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.queue, j)
	if i < 0 {
		return false
	}
	g.queue = slices.Delete(g.queue, i, i+1)
	return true
}

// take takes up to maxGroup jobs from the front of the queue.
func (g *group) take() []*job {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.queue), maxGroup)
	jobs := slices.Clone(g.queue[:n])
	for _, j := range jobs {
		close(j.taken)
	}
	g.queue = slices.Delete(g.queue, 0, n)
	return jobs
}

// groupTimeout bounds the sending of a group, which is two round trips for
// each member at worst: it is there for a server that stopped answering.
const groupTimeout = 10 * time.Second

// errGroupPanicked answers the members of a group whose sending panicked.
var errGroupPanicked = errors.New("orderdb: sending a group panicked")

// errUnusable answers the members of a refused group left unsent when
// the connection could not be rolled back: the group's refusal was not
// theirs.
var errUnusable = errors.New("orderdb: the connection could not end a refused group")

// lead holds a slot, the leader's, while it takes a group from the queue
// and commits it on one connection, unless the leader's own job j has
// left the queue. The group is its members', so the leader's ctx lends it
// only its values: a leader whose client went away, or whose deadline is
// near, must not fail the others. The connection is taken before the
// group, so that the jobs that come in while it waits for one go with it;
// a leader whose ctx ended meanwhile takes its own job out first, and
// lead reports that it did.
func (g *group) lead(ctx context.Context, j *job) (withdrawn bool) {
	defer func() { <-g.slots }()
	select {
	case <-j.taken:
		return false
	default:
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	defer cancel()
	conn, err := g.pool.Acquire(gctx)
	if ctx.Err() != nil && g.withdraw(j) {
		withdrawn = true
	}
	jobs := g.take()
	defer func() {
		if r := recover(); r != nil {
			finish(jobs, errGroupPanicked) // only those not yet answered
			panic(r)
		}
	}()
	if err != nil {
		finish(jobs, fmt.Errorf("acquire a connection: %w", err))
		return withdrawn
	}
	defer conn.Release()
	if len(jobs) > 0 {
		sendGroup(gctx, conn, jobs)
	}
	return withdrawn
}

// sendGroup commits jobs on conn as one transaction. When the server refuses
// it, for a member's statement (too few units left, a product at another
// version, a key that exists) or for a lock taken out of order (a
// deadlock), each member is sent again alone, and answered by what it
// alone met: a member's refusal in the group may stand on another
// member's writes, which the refusal undid. conn is left out of any
// transaction, or unusable, and then closed by the pool.
func sendGroup(ctx context.Context, conn *pgxpool.Conn, jobs []*job) {
	err := commitJobs(ctx, conn, jobs...)
	var pgErr *pgconn.PgError
	if err == nil || len(jobs) == 1 || !errors.As(err, &pgErr) {
		finish(jobs, err)
		rollback(ctx, conn)
		return
	}
	for i, j := range jobs {
		if !rollback(ctx, conn) {
			finish(jobs[i:], errUnusable)
			return
		}
		finish([]*job{j}, commitJobs(ctx, conn, j))
	}
	rollback(ctx, conn)
}

// commitJobs sends jobs' transactions on conn as one, from BEGIN to COMMIT.
func commitJobs(ctx context.Context, conn *pgxpool.Conn, jobs ...*job) error {
	txs := make([]*tx, len(jobs))
	for i, j := range jobs {
		txs[i] = j.tx
	}
	return sendBatch(ctx, conn, txs, true, true)
}

// finish answers those of jobs not yet answered with err.
func finish(jobs []*job, err error) {
	for _, j := range jobs {
		select {
		case <-j.done:
		default:
			j.err = err
			close(j.done)
		}
	}
}
