package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A Registration is one instance's entry in the etcd registry, kept alive
// in the background until Close.
type Registration struct {
	cli      *clientv3.Client
	key, url string
	ttl      int64 // seconds
	log      *slog.Logger

	stop  context.CancelFunc
	done  chan struct{} // closed when run returns
	lease clientv3.LeaseID
}

// Register puts prefix+service+"/"+id => url under a lease of ttl (rounded
// up to whole seconds; etcd raises it to its minimum, about 2s), where id is
// a new random instance id, and keeps the lease alive until Close. If the
// lease is lost (revoked, or expired while etcd was unreachable) it registers
// again with a new lease. Prefix "" means DefaultPrefix. Register itself
// makes two round trips to etcd; the entry lives on after ctx ends.
func Register(ctx context.Context, cli *clientv3.Client, prefix, service, url string, ttl time.Duration, log *slog.Logger) (*Registration, error) {
	if service == "" || strings.Contains(service, "/") || url == "" || ttl <= 0 {
		return nil, fmt.Errorf("discovery: register %q at %q with TTL %v: invalid argument", service, url, ttl)
	}
	key := serviceKey(prefix, service) + uuid.NewString()
	r := &Registration{
		cli: cli, key: key, url: url,
		ttl:  int64((ttl + time.Second - 1) / time.Second),
		log:  orDefault(log).With("key", key),
		done: make(chan struct{}),
	}
	lease, err := r.register(ctx)
	if err != nil {
		return nil, fmt.Errorf("discovery: register %s: %w", key, err)
	}
	r.lease = lease
	bg, stop := context.WithCancel(cli.Ctx()) // ends at Close or when the client closes
	r.stop = stop
	go r.run(bg)
	return r, nil
}

// Close stops the keep-alive, deletes the entry and revokes its lease, so
// that watchers drop the instance at once. Call it before closing the client.
func (r *Registration) Close(ctx context.Context) error {
	r.stop()
	<-r.done
	if r.cli.Ctx().Err() != nil {
		return fmt.Errorf("discovery: deregister %s: etcd client already closed", r.key)
	}
	// Revoking the lease deletes the entry too, unless a re-registration cut
	// short by Close put it under a lease we never learned of.
	_, errDel := r.cli.Delete(ctx, r.key)
	_, errRevoke := r.cli.Revoke(ctx, r.lease)
	if errors.Is(errRevoke, rpctypes.ErrLeaseNotFound) {
		errRevoke = nil // already expired
	}
	if err := errors.Join(errDel, errRevoke); err != nil {
		return fmt.Errorf("discovery: deregister %s: %w", r.key, err)
	}
	return nil
}

// register grants a new lease and puts the entry under it.
func (r *Registration) register(ctx context.Context) (clientv3.LeaseID, error) {
	lease, err := r.cli.Grant(ctx, r.ttl)
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	if _, err := r.cli.Put(ctx, r.key, r.url, clientv3.WithLease(lease.ID)); err != nil {
		// The lease would expire anyway; revoking it frees it now.
		revoke, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_, _ = r.cli.Revoke(revoke, lease.ID)
		return 0, fmt.Errorf("put: %w", err)
	}
	return lease.ID, nil
}

// run keeps r.lease alive and registers again whenever it is lost, until
// ctx ends (at Close, or when the client closes).
func (r *Registration) run(ctx context.Context) {
	defer close(r.done)
	for {
		if ch, err := r.cli.KeepAlive(ctx, r.lease); err == nil {
			for range ch { // the channel closes when the lease is lost
			}
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("discovery: etcd lease lost; registering again")
		if !r.reregister(ctx) {
			return
		}
		r.log.Info("discovery: registered again")
	}
}

// reregister retries register until it succeeds (true) or ctx ends.
func (r *Registration) reregister(ctx context.Context) bool {
	for failed := false; ; failed = true {
		lease, err := r.register(ctx)
		if err == nil {
			r.lease = lease
			return true
		}
		if !failed && ctx.Err() == nil {
			r.log.Warn("discovery: registering again failed; retrying", "err", err)
		}
		if !sleep(ctx, retryDelay) {
			return false
		}
	}
}
