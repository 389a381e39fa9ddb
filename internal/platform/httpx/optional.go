package httpx

import "encoding/json"

// Optional is a JSON field of a partial update that tells "absent" (leave as
// is) from "null" (clear) from a value (set).
type Optional[T any] struct {
	Set   bool // the field was present
	Null  bool // the field was present and null
	Value T
}

// UnmarshalJSON records that the field was present.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}
