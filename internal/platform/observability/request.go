package observability

import (
	"context"
	"sync"
)

// RequestInfo is what the layers serving one request learn about it and
// the access log line and the error metrics report once it is served: the
// route template the router matched, the authenticated user, and the
// stable code of the problem answered. The layers that learn each fact run
// inside the middleware that reports it, on contexts derived from its own,
// so they write into this one shared record rather than a context value.
type RequestInfo struct {
	mu     sync.Mutex
	route  string
	userID string
	code   string
}

type requestInfoKey struct{}

// NewRequestInfo returns ctx carrying a new, empty RequestInfo, and the
// record itself: the access log makes one per request it serves. A
// service called in-process (the gateway's upstream in "all" mode) gets a
// record of its own, hiding its caller's.
func NewRequestInfo(ctx context.Context) (context.Context, *RequestInfo) {
	info := &RequestInfo{}
	return context.WithValue(ctx, requestInfoKey{}, info), info
}

// WithRequestInfo returns ctx and the RequestInfo it carries, or a new one
// when it carries none, so that the router shares the access log's record.
func WithRequestInfo(ctx context.Context) (context.Context, *RequestInfo) {
	if info := requestInfo(ctx); info != nil {
		return ctx, info
	}
	return NewRequestInfo(ctx)
}

func requestInfo(ctx context.Context) *RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return info
}

// SetRoute records the route template (such as "GET /v1/orders/{id}")
// that serves the request of ctx; nothing happens without a RequestInfo.
func SetRoute(ctx context.Context, route string) {
	if info := requestInfo(ctx); info != nil {
		info.mu.Lock()
		info.route = route
		info.mu.Unlock()
	}
}

// SetUserID records the authenticated user of the request of ctx: an
// opaque id, never a token, email or name.
func SetUserID(ctx context.Context, id string) {
	if info := requestInfo(ctx); info != nil {
		info.mu.Lock()
		info.userID = id
		info.mu.Unlock()
	}
}

// SetProblemCode records the stable code of the problem the request of ctx
// was answered with.
func SetProblemCode(ctx context.Context, code string) {
	if info := requestInfo(ctx); info != nil {
		info.mu.Lock()
		info.code = code
		info.mu.Unlock()
	}
}

// Route is the recorded route template, or "".
func (i *RequestInfo) Route() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.route
}

// UserID is the recorded user id, or "".
func (i *RequestInfo) UserID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.userID
}

// ProblemCode is the recorded problem code, or "".
func (i *RequestInfo) ProblemCode() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.code
}
