package main

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
)

// TestWebBuyerJourneyInARealBrowser drives Chromium through the
// storefront, scripts on (htmx boosts the links and forms), against the
// whole platform in one process: a buyer signs up, searches from the box,
// narrows a category by a facet, puts a product in the cart, checks out with a typed address
// and pays. `make tools` installs Debian's chromium.
func TestWebBuyerJourneyInARealBrowser(t *testing.T) {
	endToEnd(t) // and a browser
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium on PATH: run `make tools`")
	}
	gatewayAddr := freeAddr(t)
	getenv := testEnv(t, map[string]string{"GATEWAY_ADDR": gatewayAddr, "WEB_API_URL": "http://" + gatewayAddr})
	if err := run(context.Background(), []string{"seed", "--products=40", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	base := "http://" + addrs["gateway"]
	untilListed(t, base)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute) // a hang's bound, not a speed target
	defer cancelTime()

	// Scripts that fail (a blocked inline script, a CSP violation that
	// throws) fail the test.
	var (
		mu     sync.Mutex
		thrown []string
	)
	err = chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			thrown = append(thrown, exceptionText(e.ExceptionDetails))
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	email := "browser-" + uuid.NewString()[:8] + "@example.com"
	var cartTitle string
	steps := []struct {
		name    string
		actions []chromedp.Action[chromedp.Void]
	}{
		{"the buyer signs up", []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(base + "/register"),
			chromedp.SendKeys(chromedp.CSS(`#display_name`), "Browser Buyer"),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), e2ePassword),
			press(chromedp.CSS(`form.narrow button[type=submit]`)),
			chromedp.WaitVisible(chromedp.Search(`//button[contains(., "Log out")]`)),
		}},
		{"the buyer searches from the box", []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.CSS(`#top-q`), "lamp\r"),
			chromedp.WaitVisible(chromedp.CSS(`#results .card a`)),
		}},
		{"the buyer opens a category and narrows it by a facet", []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(base + "/"),
			press(chromedp.CSS(`a[href="/search?category=electronics"]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="attr.brand"]`)),
			// Ticking a box searches only once htmx has taken the new form
			// in (without scripts, the person presses Search).
			chromedp.Poll[chromedp.Void](`(document.querySelector('form.filters')['htmx-internal-data'] || {}).initHash`),
			press(chromedp.CSS(`input[name="attr.brand"]`)),
			// htmx swaps the page in, then pushes its address.
			waitLocation("attr.brand="),
			// The checked attribute (not the state a click sets) is the new page's.
			chromedp.WaitVisible(chromedp.CSS(`input[name="attr.brand"][checked]`)),
			chromedp.WaitVisible(chromedp.CSS(`#results .card a`)),
		}},
		{"the buyer adds the first product to the cart", []chromedp.Action[chromedp.Void]{
			press(chromedp.CSS(`#results .card a`)),
			chromedp.WaitVisible(chromedp.CSS(`form.buy`)),
			press(chromedp.CSS(`form.buy button`)),
			chromedp.WaitVisible(chromedp.CSS(`table.cart`)),
		}},
		{"the buyer checks out with a typed address and pays", []chromedp.Action[chromedp.Void]{
			press(chromedp.CSS(`a[href="/checkout"]`)),
			chromedp.WaitVisible(chromedp.CSS(`form.checkout`)),
			chromedp.SendKeys(chromedp.CSS(`#name`), "Browser Buyer"),
			chromedp.SendKeys(chromedp.CSS(`#line1`), "Hauptstraße 1"),
			chromedp.SendKeys(chromedp.CSS(`#city`), "Berlin"),
			chromedp.SendKeys(chromedp.CSS(`#postal_code`), "10115"),
			chromedp.SendKeys(chromedp.CSS(`#country`), "DE"),
			press(chromedp.CSS(`form.checkout button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`ol.timeline`)),
		}},
	}
	for _, s := range steps {
		if err := chromedp.Do(ctx, s.actions...); err != nil {
			url, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nat %s:\n%s", s.name, err, url, body)
		}
		if s.name == "the buyer adds the first product to the cart" {
			cartTitle, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`table.cart tbody td a`)))
		}
	}
	notice, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`p.notice`)))
	if err != nil {
		t.Fatal(err)
	}
	orderStatus, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`strong.status`)))
	if err != nil {
		t.Fatal(err)
	}
	if cartTitle == "" || !strings.Contains(notice, "your order is paid") || orderStatus != "paid" {
		t.Errorf("cart line %q, order notice %q, status %q; want a paid order", cartTitle, notice, orderStatus)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(thrown) > 0 {
		t.Errorf("scripts threw: %q", thrown)
	}
}

// exceptionText is what a thrown exception says.
func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}

// waitLocation waits until the page's address contains part.
func waitLocation(part string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		for {
			loc, err := chromedp.Location()(ctx, tgt)
			if err != nil {
				return err
			}
			if strings.Contains(loc, part) {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}
