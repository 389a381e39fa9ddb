package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// reindexCmd has a running search service read the whole catalog from the
// products service into its index, and shows its progress: a bar on a
// terminal, and a last line with the counts. The index keeps answering
// meanwhile; products it holds at the current version are left as they
// are.
func reindexCmd(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	fs.SetOutput(out)
	def := "http://localhost:8084"
	if v, ok := getenv("SEARCH_URL"); ok && v != "" {
		def = v
	}
	base := fs.String("search-url", def, "base URL of the search service (SEARCH_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*base, "/")+"/internal/v1/search/reindex", nil)
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		return fmt.Errorf("reindex: %s: %s", res.Status, b)
	}
	return followReindex(res.Body, out)
}

// reindexLine is one line of the search service's reindex answer.
type reindexLine struct {
	Read    int64  `json:"read"`
	Total   int64  `json:"total"`
	Indexed int64  `json:"indexed"`
	Done    *bool  `json:"done"`
	Error   string `json:"error"`
}

// followReindex draws the progress lines of r and reports the last.
func followReindex(r io.Reader, out io.Writer) error {
	var bar *progressbar.ProgressBar
	defer func() {
		if bar != nil {
			_ = bar.Close()
		}
	}()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var l reindexLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("reindex: unreadable progress %q: %w", sc.Text(), err)
		}
		if bar == nil {
			bar = progressbar.NewOptions64(max(l.Total, 1), progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("products"),
				progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))), progressbar.OptionShowCount())
		}
		if l.Total > bar.GetMax64() {
			bar.ChangeMax64(l.Total)
		}
		_ = bar.Set64(l.Read)
		switch {
		case l.Error != "":
			return fmt.Errorf("reindex: %s (read %d of %d products)", l.Error, l.Read, l.Total)
		case l.Done != nil:
			fmt.Fprintf(out, "reindexed: read %d products, %d of them new or newer than the index held\n", l.Read, l.Indexed)
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	return errors.New("reindex: the search service stopped answering before the end")
}
