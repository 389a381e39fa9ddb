#!/usr/bin/env bash
# test-failures.sh LOG: what each failed test of a `go test -v` log said,
# in a few lines. CI keeps only the end of a failed run's output, and a
# verbose run ends with the result line of every subtest, which buried the
# finding itself; `make chaos` prints this after a failure instead. For
# each failed test, the last lines it wrote (its findings come last, then
# its summary), each cut short.
set -euo pipefail
log=${1:?usage: test-failures.sh LOG}
lines=${LINES_PER_TEST:-10}
width=${WIDTH:-320}

awk -v keep="$lines" -v width="$width" '
	# Output lines belong to the test named by the last === RUN, NAME,
	# CONT or PAUSE marker.
	/^=== (RUN|NAME|CONT|PAUSE) / { current = $3; next }
	/^ *--- FAIL: / { name = $3; if (!(name in failed)) { failed[name] = 1; order[++n] = name }; next }
	/^ *--- (PASS|SKIP): / { next }
	current != "" && /^    / {
		c = ++count[current]
		text[current, c] = substr($0, 1, width)
	}
	END {
		if (n == 0) { print "no test failed in this log"; exit }
		for (i = 1; i <= n; i++) {
			name = order[i]
			printf "--- FAIL: %s\n", name
			from = count[name] - keep + 1
			if (from < 1) from = 1
			for (c = from; c <= count[name]; c++) print text[name, c]
		}
	}
' "$log"
