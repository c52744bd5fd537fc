package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/index"
)

// transport sends query i of a pool one way and returns the number of
// hits and the search time the far side reported (the index's Took in
// process, the handler's took_ms over gRPC and REST).
type transport struct {
	name   string
	search func(ctx context.Context, qs *queries, i int) (hits int, took time.Duration, err error)
	// ids returns the hits' IDs, for the check that every transport
	// finds the same documents.
	ids func(ctx context.Context, qs *queries, i int) ([]string, error)
}

func inProcess(c *index.Collection) transport {
	return transport{
		name: "in-process",
		search: func(ctx context.Context, qs *queries, i int) (int, time.Duration, error) {
			res, err := c.Search(ctx, qs.inproc[i])
			if err != nil {
				return 0, 0, err
			}
			return len(res.Hits), res.Took, nil
		},
		ids: func(ctx context.Context, qs *queries, i int) ([]string, error) {
			res, err := c.Search(ctx, qs.inproc[i])
			if err != nil {
				return nil, err
			}
			out := make([]string, len(res.Hits))
			for j, h := range res.Hits {
				out[j] = h.ID
			}
			return out, nil
		},
	}
}

func overGRPC(cl ragv1.DocumentsClient) transport {
	return transport{
		name: "gRPC",
		search: func(ctx context.Context, qs *queries, i int) (int, time.Duration, error) {
			resp, err := cl.Search(ctx, qs.grpc[i])
			if err != nil {
				return 0, 0, err
			}
			return len(resp.GetResults()), msDuration(resp.GetTookMs()), nil
		},
		ids: func(ctx context.Context, qs *queries, i int) ([]string, error) {
			resp, err := cl.Search(ctx, qs.grpc[i])
			if err != nil {
				return nil, err
			}
			out := make([]string, len(resp.GetResults()))
			for j, r := range resp.GetResults() {
				out[j] = r.GetId()
			}
			return out, nil
		},
	}
}

// overREST posts the prepared JSON bodies. The response is read whole and
// its status checked; the hits are counted and took_ms found by a scan of
// the bytes instead of a JSON decode, so that the client, which shares the
// machine's cores with the server, costs as little as it can. (protojson
// may put a space after a colon; the scan allows for it.)
func overREST(hc *http.Client, base string) transport {
	url := base + "/v1/collections/" + collName + "/search"
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	post := func(ctx context.Context, body []byte, fn func([]byte) error) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		buf := bufs.Get().(*bytes.Buffer)
		defer bufs.Put(buf)
		buf.Reset()
		if _, err := buf.ReadFrom(resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			b := buf.Bytes()
			return fmt.Errorf("http %d: %s", resp.StatusCode, b[:min(len(b), 200)])
		}
		return fn(buf.Bytes())
	}
	return transport{
		name: "REST",
		search: func(ctx context.Context, qs *queries, i int) (hits int, took time.Duration, err error) {
			err = post(ctx, qs.rest[i], func(b []byte) error {
				hits = bytes.Count(b, []byte(`"id":`))
				took = msDuration(jsonNumber(b, `"took_ms":`))
				return nil
			})
			return hits, took, err
		},
		ids: func(ctx context.Context, qs *queries, i int) (ids []string, err error) {
			err = post(ctx, qs.rest[i], func(b []byte) error {
				for {
					_, after, ok := bytes.Cut(b, []byte(`"id":`))
					if !ok {
						return nil
					}
					after = bytes.TrimLeft(after, " ")
					if len(after) == 0 || after[0] != '"' {
						return errors.New("malformed id in the response")
					}
					end := bytes.IndexByte(after[1:], '"')
					if end < 0 {
						return errors.New("malformed id in the response")
					}
					ids = append(ids, string(after[1:1+end]))
					b = after[1+end:]
				}
			})
			return ids, err
		},
	}
}

// jsonNumber returns the number after key in b, NaN when absent.
func jsonNumber(b []byte, key string) float64 {
	_, after, ok := bytes.Cut(b, []byte(key))
	if !ok {
		return math.NaN()
	}
	after = bytes.TrimLeft(after, " ")
	end := bytes.IndexAny(after, ",} \n")
	if end < 0 {
		end = len(after)
	}
	f, err := strconv.ParseFloat(string(after[:end]), 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

func msDuration(ms float64) time.Duration {
	if math.IsNaN(ms) {
		return 0
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// phase is what one transport did at one client count in one round.
type phase struct {
	n        int           // requests measured
	qps      float64       // n / the measured window
	mean     time.Duration // client-side latency
	p50      time.Duration
	p99      time.Duration
	p999     time.Duration
	took     time.Duration // mean search time the far side reported
	errors   int           // failed calls, and answers without k hits
	firstErr string
	cores    float64 // CPU time of the process ÷ wall time while measuring
	others   float64 // the same for every other process on the machine
	perMin   int     // fewest requests one client completed
	perMax   int     // most requests one client completed
}

// run keeps clients goroutines issuing searches back to back for warm +
// dur. Each goroutine walks the query pool from its own offset; only
// requests started after the warm-up are measured, so the load never pauses
// between the warm-up and the measurement.
func run(ctx context.Context, tr transport, qs *queries, k, clients int, warm, dur time.Duration) phase {
	n := len(qs.inproc)
	from := time.Now().Add(warm)
	end := from.Add(dur)
	type acc struct {
		lat    []time.Duration
		took   time.Duration
		errs   int
		errMsg string
	}
	accs := make([]acc, clients)
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			a := &accs[g]
			a.lat = make([]time.Duration, 0, 1<<14)
			for i := g * n / clients; ; i = (i + 1) % n {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				hits, took, err := tr.search(ctx, qs, i)
				d := time.Since(t0)
				if t0.Before(from) {
					continue
				}
				a.lat = append(a.lat, d)
				a.took += took
				if err == nil && hits != k {
					err = fmt.Errorf("%d hits, want %d", hits, k)
				}
				if err != nil {
					a.errs++
					if a.errMsg == "" {
						a.errMsg = err.Error()
					}
				}
			}
		})
	}
	time.Sleep(time.Until(from))
	cpu0, busy0, t0 := cpuTime(), machineBusy(), time.Now()
	wg.Wait()
	var p phase
	wall := time.Since(t0).Seconds()
	p.cores = (cpuTime() - cpu0).Seconds() / wall
	p.others = max(0, (machineBusy()-busy0).Seconds()/wall-p.cores)
	p.perMin = math.MaxInt
	var all []time.Duration
	var took time.Duration
	for _, a := range accs {
		all = append(all, a.lat...)
		p.perMin, p.perMax = min(p.perMin, len(a.lat)), max(p.perMax, len(a.lat))
		took += a.took
		p.errors += a.errs
		if p.firstErr == "" {
			p.firstErr = a.errMsg
		}
	}
	slices.Sort(all)
	p.n = len(all)
	if p.n == 0 {
		return p
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	p.qps = float64(p.n) / dur.Seconds()
	p.mean = sum / time.Duration(p.n)
	p.took = took / time.Duration(p.n)
	p.p50, p.p99, p.p999 = rank(all, 0.50), rank(all, 0.99), rank(all, 0.999)
	return p
}

// rank is the nearest-rank percentile of sorted samples.
func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time every process on the machine has used since
// boot (the busy fields of /proc/stat, at 100 ticks a second); 0 where it
// cannot be read.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
