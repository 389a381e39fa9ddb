// Package errs defines the error values that business code returns and the
// transport layer translates, so that services never speak HTTP below their
// handlers.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind says whose fault an error is and so how a transport should answer.
type Kind int

// The kinds of error a caller can be told about. Anything else is Internal.
const (
	Internal Kind = iota
	Invalid
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	PreconditionFailed
	PreconditionRequired
	TooLarge
	Unsupported
	Unprocessable
	TooManyRequests
	Unavailable
)

// Error is a failure a client may be told about. Code is a stable,
// machine-readable slug such as "email_taken"; Message is safe to show.
type Error struct {
	Kind       Kind
	Code       string
	Message    string
	Fields     map[string]string // per-field reasons for validation errors
	RetryAfter time.Duration     // set for TooManyRequests and Unavailable
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an Error of the given kind.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validation returns an Invalid error carrying per-field reasons.
func Validation(fields map[string]string) *Error {
	return &Error{Kind: Invalid, Code: "validation_failed", Message: "the request has invalid fields", Fields: fields}
}

// As finds the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err carries an Error with the given code.
func Is(err error, code string) bool {
	e, ok := As(err)
	return ok && e.Code == code
}
