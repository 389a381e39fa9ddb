package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

func TestVersionPrintsTheBuildsVersionAndCommit(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"the version command prints them", []string{"version"}},
		{"the --version flag prints them", []string{"--version"}},
	}
	// A test binary is built without -ldflags: the defaults show.
	want := regexp.MustCompile(`^marketplace dev \(commit unknown, go1\.[0-9.]+\S*\)\n$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), tt.args, lookup(nil), &out, nil); err != nil {
				t.Fatal(err)
			}
			if !want.MatchString(out.String()) {
				t.Errorf("printed %q, want it to match %s", out.String(), want)
			}
		})
	}
}
