package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultPrefix is where instances register: DefaultPrefix+service+"/"+id
// holds an instance's base URL.
const DefaultPrefix = "/marketplace/services/"

// Dial connects to etcd and checks that it answers within 5s (or ctx's
// deadline, if sooner), so a service with a wrong or dead endpoint fails at
// start. gRPC keepalives notice a silently dead connection within about 15s.
// The client's own zap logging is off: this package logs through slog.
func Dial(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: etcd %v: %w", endpoints, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, DefaultPrefix, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("discovery: etcd %v: %w", endpoints, err)
	}
	return cli, nil
}

// Etcd is a Source that follows the instances registered under
// Prefix+Service+"/" (Prefix "" means DefaultPrefix).
type Etcd struct {
	Client  *clientv3.Client
	Prefix  string
	Service string
	Log     *slog.Logger // nil means slog.Default()
}

// Watch implements Source. It reads the registered instances, then watches
// for changes from just after that read; if the watch fails (its revision
// was compacted, the member lost its leader) it reads and watches again.
// It returns an error only once the client is closed.
func (e Etcd) Watch(ctx context.Context, update func([]string)) error {
	prefix := serviceKey(e.Prefix, e.Service)
	rep := reporter{update: update}
	for {
		err := e.follow(ctx, prefix, &rep)
		switch {
		case ctx.Err() != nil:
			return nil
		case e.Client.Ctx().Err() != nil:
			return fmt.Errorf("discovery: watch %s: etcd client closed", prefix)
		}
		orDefault(e.Log).Warn("discovery: etcd watch failed; reading again", "prefix", prefix, "err", err)
		if !sleep(ctx, retryDelay) {
			return nil
		}
	}
}

// follow reports the instances under prefix, then again after every change,
// until the watch fails or ctx ends.
func (e Etcd) follow(ctx context.Context, prefix string, rep *reporter) error {
	resp, err := e.Client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	urls := make(map[string]string, len(resp.Kvs)) // key => URL
	for _, kv := range resp.Kvs {
		urls[string(kv.Key)] = string(kv.Value)
	}
	rep.report(slices.Collect(maps.Values(urls)))

	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range e.Client.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				delete(urls, string(ev.Kv.Key))
			} else {
				urls[string(ev.Kv.Key)] = string(ev.Kv.Value)
			}
		}
		rep.report(slices.Collect(maps.Values(urls)))
	}
	return errors.New("watch ended")
}

func serviceKey(prefix, service string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return prefix + service + "/"
}
