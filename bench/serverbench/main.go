// Command serverbench measures what the server adds to a search: it runs
// the same searches in process (index.Collection.Search), over gRPC and
// over REST on loopback, at several numbers of concurrent clients, and
// reports QPS, latency percentiles, errors and each transport's mean
// latency and QPS as a ratio to the in-process figures.
//
// The collection (-docs documents of -dim dimensions, Zipfian text,
// metadata) is built once with the index package, or reused from -dir.
// Every round runs the in-process phase with the index opened directly,
// closes it, starts a server (server.New) on the same folder and runs the
// gRPC and REST phases (their order alternates between rounds), then shuts
// the server down: the store's file lock lets one of them hold the folder
// at a time. A phase keeps each client issuing requests back to back for
// -warmup, then measures for -dur. The tables give medians over rounds,
// and the ratios are medians of each round's ratio.
//
// Before measuring, the first round checks that gRPC and REST return the
// in-process IDs for the first queries; any failed request, or answer
// without k hits, counts as an error and makes the run exit 1.
//
// The load generator runs in the server's process and on the same cores,
// so its own work (marshalling, the HTTP/2 or HTTP/1.1 client, reading
// the answer) takes CPU the server would have on its own machine; the
// cores column says how much CPU the process got, others what the rest of
// the machine used. -cpuprofile adds one profiled phase per transport and
// mode after the rounds; client goroutines carry the pprof label
// side=client, so
//
//	go tool pprof -tagignore side=client PREFIX-grpc.prof
//
// shows the server's share alone.
//
//	go run ./bench/serverbench [-docs 100000] [-dim 384] [-dir DIR] [-dur 10s] [-warmup 2s] [-rounds 3] [-clients 1,8,32] [-mode hybrid,vector] [-out FILE] [-cpuprofile PREFIX]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/server"
)

var (
	docsN    = flag.Int("docs", 100000, "documents in the collection")
	dim      = flag.Int("dim", 384, "vector dimension")
	dirF     = flag.String("dir", "", "data folder, kept and reused when it holds the collection (default: a temporary one, removed at the end)")
	dur      = flag.Duration("dur", 10*time.Second, "measured time of each phase")
	warm     = flag.Duration("warmup", 2*time.Second, "unmeasured load before each phase")
	rounds   = flag.Int("rounds", 3, "rounds (each: in-process, then gRPC and REST)")
	clientsF = flag.String("clients", "1,8,32", "concurrent clients (comma-separated)")
	modeF    = flag.String("mode", "hybrid", "search modes: hybrid, vector or both (comma-separated)")
	kFlag    = flag.Int("k", 10, "hits per search")
	nQueries = flag.Int("queries", 1000, "queries in the pool each client walks")
	outF     = flag.String("out", "", "also write the report here")
	cpuProf  = flag.String("cpuprofile", "", "after the rounds, profile one more phase per transport into PREFIX-{inprocess,grpc,rest}.prof")
	profC    = flag.Int("profile-clients", 8, "clients of the profiled phases")
)

// verifyN is how many queries are checked to return the same IDs over
// every transport.
const verifyN = 20

// idxCfg is the index configuration of both the in-process phase and the
// server: no fsync (nothing is written while measuring) and no background
// snapshots.
var idxCfg = index.Config{NoSync: true, SnapshotInterval: -1}

type key struct {
	mode    index.Mode
	tr      string
	clients int
}

// bench holds the run's parameters and what it measured.
type bench struct {
	modes   []index.Mode
	clients []int
	qs      map[index.Mode]*queries
	ref     map[index.Mode][][]string // in-process IDs of the first verifyN queries
	res     map[key][]phase           // one per round
	notes   []string
}

func main() {
	flag.Parse()
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "serverbench:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	b := &bench{qs: map[index.Mode]*queries{}, ref: map[index.Mode][][]string{}, res: map[key][]phase{}}
	for _, s := range strings.Split(*clientsF, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-clients: %q is not a positive number", s)
		}
		b.clients = append(b.clients, n)
	}
	for _, s := range strings.Split(*modeF, ",") {
		switch m := index.Mode(strings.TrimSpace(s)); m {
		case index.ModeHybrid, index.ModeVector:
			b.modes = append(b.modes, m)
		default:
			return fmt.Errorf("-mode: %q (want hybrid or vector)", s)
		}
	}
	if *rounds < 1 || *nQueries < verifyN || *dur <= 0 {
		return errors.New("want -rounds ≥ 1, -queries ≥ 20 and -dur > 0")
	}
	dir := *dirF
	if dir == "" {
		d, err := os.MkdirTemp("", "ragd-serverbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := prepare(dir, *docsN, *dim, idxCfg); err != nil {
		return err
	}
	for _, m := range b.modes {
		q, err := makeQueries(*nQueries, *docsN, *dim, m, *kFlag)
		if err != nil {
			return err
		}
		b.qs[m] = q
	}
	for r := range *rounds {
		logf("round %d of %d (load average %s)", r+1, *rounds, loadAvg())
		if err := b.inProcessRound(dir, r, nil); err != nil {
			return fmt.Errorf("round %d, in process: %w", r+1, err)
		}
		order := []string{"gRPC", "REST"}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		if err := b.serverRound(dir, r, order, nil); err != nil {
			return fmt.Errorf("round %d, server: %w", r+1, err)
		}
	}
	if *cpuProf != "" {
		if err := b.profile(dir); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	out := []io.Writer{os.Stdout}
	if *outF != "" {
		f, err := os.Create(*outF)
		if err != nil {
			return err
		}
		defer f.Close()
		out = append(out, f)
	}
	b.report(io.MultiWriter(out...))
	for _, m := range b.modes {
		for _, c := range b.clients {
			for _, tr := range []string{"in-process", "gRPC", "REST"} {
				for _, p := range b.res[key{m, tr, c}] {
					if p.errors > 0 {
						return fmt.Errorf("%s %s at %d clients: %d errors, the first: %s", m, tr, c, p.errors, p.firstErr)
					}
				}
			}
		}
	}
	return nil
}

// phases runs every mode at every client count over tr; record receives
// each phase (nil: only logged).
func (b *bench) phases(ctx context.Context, tr transport, clients []int, record func(index.Mode, int, phase)) {
	for _, m := range b.modes {
		for _, c := range clients {
			runtime.GC()
			p := run(ctx, tr, b.qs[m], *kFlag, c, *warm, *dur)
			logf("  %-10s %-6s %2d clients: %6.0f QPS, mean %6.2f ms, p50 %6.2f, p99 %6.2f, p99.9 %7.2f, search %5.2f ms, %.2f cores (others %.2f), %d–%d per client, %d errors %s",
				tr.name, m, c, p.qps, ms(p.mean), ms(p.p50), ms(p.p99), ms(p.p999), ms(p.took), p.cores, p.others, p.perMin, p.perMax, p.errors, p.firstErr)
			if record != nil {
				record(m, c, p)
			}
		}
	}
}

func (b *bench) record(tr string) func(index.Mode, int, phase) {
	return func(m index.Mode, c int, p phase) {
		k := key{m, tr, c}
		b.res[k] = append(b.res[k], p)
	}
}

// inProcessRound opens the index and runs the in-process phases (with
// profile set, only the profiled one).
func (b *bench) inProcessRound(dir string, r int, profile func(func()) error) (err error) {
	ctx := context.Background()
	ix, err := index.Open(dir, idxCfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ix.Close()) }()
	c, err := ix.Collection(collName)
	if err != nil {
		return err
	}
	tr := inProcess(c)
	if profile != nil {
		return profile(func() { b.phases(ctx, tr, []int{*profC}, nil) })
	}
	if r == 0 {
		for _, m := range b.modes {
			for i := range verifyN {
				ids, err := tr.ids(ctx, b.qs[m], i)
				if err != nil {
					return err
				}
				b.ref[m] = append(b.ref[m], ids)
			}
		}
	}
	b.phases(ctx, tr, b.clients, b.record(tr.name))
	return nil
}

// serverRound starts a server on dir and runs the gRPC and REST phases in
// the given order (with profile set, the profiled ones). The clients run
// under the pprof label side=client; the server's goroutines, started
// outside it, carry none.
func (b *bench) serverRound(dir string, r int, order []string, profile func(string, func()) error) (err error) {
	s, err := server.New(server.Config{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		Index: idxCfg, Embed: server.EmbedConfig{Default: server.ProviderNone},
	})
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Shutdown(context.Background())) }()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := s.WaitReady(wctx); err != nil {
		return err
	}
	logf("  server ready in %.1f s (http %s, grpc %s)", time.Since(t0).Seconds(), s.HTTPAddr(), s.GRPCAddr())

	pprof.Do(context.Background(), pprof.Labels("side", "client"), func(ctx context.Context) {
		conn, cerr := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if cerr != nil {
			err = cerr
			return
		}
		defer conn.Close()
		ht := http.DefaultTransport.(*http.Transport).Clone()
		ht.MaxIdleConns = 256
		ht.MaxIdleConnsPerHost = 256
		hc := &http.Client{Transport: ht}
		defer ht.CloseIdleConnections()
		trs := map[string]transport{
			"gRPC": overGRPC(ragv1.NewDocumentsClient(conn)),
			"REST": overREST(hc, "http://"+s.HTTPAddr()),
		}
		if r == 0 && profile == nil {
			for _, name := range order {
				if err = b.verify(ctx, trs[name]); err != nil {
					return
				}
			}
		}
		for _, name := range order {
			tr := trs[name]
			if profile != nil {
				if err = profile(name, func() { b.phases(ctx, tr, []int{*profC}, nil) }); err != nil {
					return
				}
				continue
			}
			b.phases(ctx, tr, b.clients, b.record(name))
		}
	})
	return err
}

// verify checks that tr finds the in-process IDs for the first queries.
func (b *bench) verify(ctx context.Context, tr transport) error {
	for _, m := range b.modes {
		same := 0
		for i, want := range b.ref[m] {
			got, err := tr.ids(ctx, b.qs[m], i)
			if err != nil {
				return fmt.Errorf("%s: %w", tr.name, err)
			}
			if slices.Equal(got, want) {
				same++
			}
		}
		note := fmt.Sprintf("%s, %s: %d of %d queries return the in-process IDs, in order", tr.name, m, same, len(b.ref[m]))
		logf("  %s", note)
		b.notes = append(b.notes, note)
	}
	return nil
}

// profile runs one more phase per transport under the CPU profiler.
func (b *bench) profile(dir string) error {
	prof := func(name string, f func()) error {
		path := *cpuProf + "-" + strings.ToLower(strings.ReplaceAll(name, "-", "")) + ".prof"
		fh, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(fh); err != nil {
			return errors.Join(err, fh.Close())
		}
		f()
		pprof.StopCPUProfile()
		logf("  wrote %s", path)
		return fh.Close()
	}
	logf("profiled phases, %d clients", *profC)
	if err := b.inProcessRound(dir, -1, func(f func()) error { return prof("inprocess", f) }); err != nil {
		return err
	}
	return b.serverRound(dir, -1, []string{"gRPC", "REST"}, prof)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// loadAvg returns the first three fields of /proc/loadavg, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
