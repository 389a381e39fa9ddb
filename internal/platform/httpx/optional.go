package httpx

import (
	"bytes"
	"encoding/json"
)

// Optional is a JSON field of a partial update that tells "absent" (leave as
// is) from "null" (clear) from a value (set).
type Optional[T any] struct {
	Set   bool // the field was present
	Null  bool // the field was present and null
	Value T
}

// UnmarshalJSON records that the field was present. Unknown fields inside
// the value are refused, as Decode refuses them at the top level.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&o.Value)
}

func (o Optional[T]) optionalValue() any { return o.Value }
