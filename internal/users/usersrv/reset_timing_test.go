package usersrv_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// TestAResetRequestTakesAsLongForAKnownEmailAsForAnUnknownOne sends
// password-reset requests through the HTTP handler, as a client would,
// for known and unknown emails interleaved in an order shuffled at
// random, so that drifts of the machine's load, and whatever a request
// leaves behind for the next, fall on both alike. (In fixed pairs, each
// kind is followed more often by the other: unknown emails then measured
// 0.2-0.6 ms slower, because a known email's mail is sent after its
// answer.) The claim is that both do the same work before answering, so
// each probe also waits, untimed, for the background work of the one
// before. Every email is asked about once, as an attacker probing a list
// would, and the two kinds are the same length. It logs the medians and
// p90s of both and fails only if they differ both significantly (a
// permutation test of the difference of medians, p < 0.001) and by more
// than a quarter of the spread (the pooled interquartile range) and
// 0.25 ms: a loaded machine makes some difference by chance, but not a
// systematic one of that size. Before the lookup moved after the answer,
// known emails took 7.0 ms and unknown ones 5.3 ms at the median.
func TestAResetRequestTakesAsLongForAKnownEmailAsForAnUnknownOne(t *testing.T) {
	const rounds, warmup = 300, 20
	e := newEnv(t)
	known := func(i int) string { return fmt.Sprintf("held-%03d@example.com", i) }
	unknown := func(i int) string { return fmt.Sprintf("free-%03d@example.com", i) }
	for i := range rounds + warmup {
		e.mustRegister(t, known(i))
	}
	type probe struct {
		email string
		known bool
	}
	var probes []probe
	for i := range rounds {
		probes = append(probes, probe{known(i), true}, probe{unknown(i), false})
	}
	rng := rand.New(rand.NewPCG(14, 2026))
	rng.Shuffle(len(probes), func(i, j int) { probes[i], probes[j] = probes[j], probes[i] })
	mailed := 0 // reset mails the known probes so far make
	for i := rounds; i < rounds+warmup; i++ {
		e.timeReset(t, known(i))
		e.timeReset(t, unknown(i))
		mailed++
		e.waitResetMails(t, mailed)
	}
	var knownTimes, unknownTimes []float64 // milliseconds
	for _, p := range probes {
		took := e.timeReset(t, p.email)
		if p.known {
			mailed++
			knownTimes = append(knownTimes, took)
		} else {
			unknownTimes = append(unknownTimes, took)
		}
		e.waitResetMails(t, mailed)
	}

	k, u := summarize(knownTimes), summarize(unknownTimes)
	diff := k.median - u.median
	spread := iqr(slices.Concat(knownTimes, unknownTimes))
	p := permutationP(knownTimes, unknownTimes, 2000, rng)
	t.Logf("known: median %.3f ms, p90 %.3f ms; unknown: median %.3f ms, p90 %.3f ms; difference of medians %+.3f ms "+
		"(pooled IQR %.3f ms, permutation p = %.4f, %d requests of each)", k.median, k.p90, u.median, u.p90, diff, spread, p, rounds)
	if p < 0.001 && abs(diff) > max(spread/4, 0.25) {
		t.Errorf("reset requests for known emails take %+.3f ms longer at the median than for unknown ones "+
			"(p = %.4f; more than 0.25 ms and a quarter of the IQR %.3f ms): the timing tells accounts apart", diff, p, spread)
	}
}

// timeReset sends one reset request and returns how long its answer took,
// in milliseconds, from sending to the end of the body.
func (e *testEnv) timeReset(t *testing.T, email string) float64 {
	t.Helper()
	start := time.Now()
	r := e.do(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": email})
	took := time.Since(start)
	r.want(t, http.StatusAccepted)
	return float64(took) / float64(time.Millisecond)
}

// waitResetMails waits for the reset requests' background work, until n
// mails have reached the mail server.
func (e *testEnv) waitResetMails(t *testing.T, n int) {
	t.Helper()
	e.Users.Service.WaitResets()
	eventually.True(t, fmt.Sprintf("%d reset mails sent", n), func() bool { return len(e.Mail.Messages()) >= n })
}

type timings struct{ median, p90 float64 }

func summarize(xs []float64) timings {
	return timings{median: quantile(xs, 0.5), p90: quantile(xs, 0.9)}
}

// quantile is the q-quantile of xs by linear interpolation between the
// closest ranks.
func quantile(xs []float64, q float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

func iqr(xs []float64) float64 { return quantile(xs, 0.75) - quantile(xs, 0.25) }

// permutationP is the two-sided p-value of the difference of medians of a
// and b: the share of random relabellings of the pooled samples whose
// difference is at least as large (counting the observed one).
func permutationP(a, b []float64, n int, rng *rand.Rand) float64 {
	observed := abs(quantile(a, 0.5) - quantile(b, 0.5))
	pooled := slices.Concat(a, b)
	atLeast := 1
	for range n {
		rng.Shuffle(len(pooled), func(i, j int) { pooled[i], pooled[j] = pooled[j], pooled[i] })
		if abs(quantile(pooled[:len(a)], 0.5)-quantile(pooled[len(a):], 0.5)) >= observed {
			atLeast++
		}
	}
	return float64(atLeast) / float64(n+1)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
