package storefront

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

func (h *Handler) orders(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/orders", http.StatusSeeOther)
		return
	}
	path := "/v1/orders?limit=20"
	if c := r.URL.Query().Get("cursor"); c != "" {
		path += "&cursor=" + url.QueryEscape(c)
	}
	var list struct {
		Items      []order `json:"items"`
		NextCursor string  `json:"next_cursor"`
	}
	if _, err := v.call(call{method: http.MethodGet, path: path}, &list); err != nil {
		if isAPI(err, http.StatusBadRequest, "") {
			http.Redirect(w, r, "/orders", http.StatusSeeOther)
			return
		}
		h.fail(w, r, err)
		return
	}
	data := map[string]any{"Orders": list.Items}
	if list.NextCursor != "" {
		data["Next"] = "/orders?cursor=" + url.QueryEscape(list.NextCursor)
	}
	h.render(w, r, http.StatusOK, "orders", page{Title: "title.orders", Data: data})
}

// step is one change of an order's timeline.
type step struct {
	change
	// Of is what changed: the number of a seller's part of the order,
	// or "" for the order itself.
	Of string
}

// timeline is the order's history, oldest first. The order's history
// holds its sub-orders' changes too: with one seller they are the order's
// own steps, and a step told twice (by the order and by its one
// sub-order) is shown once; with several, each seller's parcel is named.
func timeline(o order) []step {
	parcel := map[string]string{}
	for i, s := range o.SubOrders {
		parcel[s.ID] = strconv.Itoa(i + 1)
	}
	changes := slices.Clone(o.History)
	slices.SortStableFunc(changes, func(a, b change) int { return a.At.Compare(b.At) })
	var out []step
	for _, c := range changes {
		of := ""
		if c.SubOrderID != "" && len(o.SubOrders) > 1 {
			of = parcel[c.SubOrderID]
		}
		if n := len(out); n > 0 && out[n-1].Of == of && out[n-1].To == c.To {
			continue
		}
		out = append(out, step{change: c, Of: of})
	}
	return out
}

func (h *Handler) order(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return
	}
	var o order
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/orders/" + url.PathEscape(r.PathValue("id"))}, &o); err != nil {
		if isAPI(err, http.StatusBadRequest, "") {
			h.notFound(w, r)
			return
		}
		h.fail(w, r, err)
		return
	}
	p := page{Title: "title.order", Data: map[string]any{"Order": o, "Timeline": timeline(o)}}
	switch {
	case o.Payment != nil && o.Payment.Status == "declined":
		reason := ""
		if o.Payment.DeclineReason != "" {
			reason = " (" + label(o.Payment.DeclineReason) + ")"
		}
		p.Error = h.t(r, "notice.declined", reason)
	case o.Status == "paid":
		p.Notice = "notice.paid"
	}
	h.render(w, r, http.StatusOK, "order", p)
}

func label(s string) string { return strings.ReplaceAll(s, "_", " ") }
