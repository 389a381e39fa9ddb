// Package httpx holds the HTTP plumbing every service shares: strict JSON
// decoding, RFC 9457 problem responses, middleware and an instrumented router.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// DefaultMaxBody caps request bodies when a route does not choose a limit.
const DefaultMaxBody = 64 << 10

// Decode reads one JSON object from r's body into dst. It rejects a wrong
// content type or charset, bodies over maxBytes, bodies that are not UTF-8,
// unknown fields (so a client can never set a field the API does not offer,
// such as roles or ids), wrong types, trailing data and strings the stores
// would refuse (see checkDecoded), each with an *errs.Error saying what was
// wrong.
func Decode(w http.ResponseWriter, r *http.Request, dst any, maxBytes int64) error {
	if err := checkContentType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		return decodeError(err)
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly turn bad bytes into U+FFFD.
		return errs.New(errs.Invalid, "malformed_json", "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.New(errs.Invalid, "malformed_json", "the body must hold a single JSON object")
	}
	return checkDecoded(dst)
}

// checkContentType accepts application/json in UTF-8, the only encoding
// JSON on the wire may use (RFC 8259, section 8.1).
func checkContentType(r *http.Request) error {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		return &errs.Error{Kind: errs.Unsupported, Code: "unsupported_media_type", Message: "the body must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &errs.Error{Kind: errs.Unsupported, Code: "unsupported_media_type", Message: "the body must be JSON in UTF-8"}
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errs.New(errs.TooLarge, "body_too_large", "the body exceeds %d bytes", tooLarge.Limit)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return errs.New(errs.Invalid, "malformed_json", "the body is not valid JSON")
	case errors.Is(err, io.EOF):
		return errs.New(errs.Invalid, "malformed_json", "the body is empty")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(body)"
		}
		return errs.Validation(map[string]string{field: fmt.Sprintf("must be %s", jsonType(typeErr.Type.Kind().String()))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Validation(map[string]string{name: "is not a field of this request"})
	default:
		var ve *errs.Error
		if errors.As(err, &ve) {
			return ve
		}
		return errs.New(errs.Invalid, "malformed_json", "the body could not be decoded")
	}
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	default:
		return "a number"
	}
}

// JSON writes v as a JSON response with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		// The status line is gone already; a failed write means the client left.
		_ = json.NewEncoder(w).Encode(v)
	}
}
