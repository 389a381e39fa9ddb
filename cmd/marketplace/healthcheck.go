package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheckCmd asks a URL (a listener's /readyz or /healthz) and fails
// unless it answers 2xx: the container image has no shell and no curl, so
// compose's and other runtimes' health checks run the binary itself.
func healthcheckCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(out)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "the URL to ask; healthy when it answers 2xx")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	insecure := fs.Bool("insecure", false, "do not verify an https URL's certificate (a check of the process's own TLS listener over loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if *insecure {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // asked for: a check of its own listener
	}
	res, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("healthcheck: %s answered %s", *url, res.Status)
	}
	return nil
}
