// Command embedbench measures how close the OpenAI-compatible embedder
// comes to an endpoint's capacity (issue 4): a fake endpoint
// (embed/openaitest) answers every request after a fixed latency and
// refuses more than a fixed number of requests in flight, so that its
// capacity is
//
//	capacity = inflight × batch / latency    texts per second
//
// and the client reaches it only by keeping every slot busy with full
// batches. The run embeds -n passages of about -len characters and prints
// texts/s, the capacity and their ratio, for the embedder called directly
// (one Embed call of every passage) and through a Pool (-producers
// goroutines each embedding -chunk passages at a time, as an ingestion
// does). The client never retries (MaxAttempts 1), so a refused request
// fails the run instead of hiding in a retry.
//
// The fake endpoint runs in a child process (this program with -serve), as
// a real one runs on another machine: in the client's process its timers
// and handlers would wait behind the client's decoding in Go's scheduler
// (-inprocess shows that). The last round of requests is partly empty —
// 20,000 passages in batches of 64 are 313 requests, 40 rounds of 8 where
// 39.1 would do — so the ratio is at most 0.977. On a machine short of
// CPU the ratio measures the CPU rather than the pipelining: the cpu column
// says what each side used, and a run with -dim 8 -len 100 needs almost
// none.
//
//	go run ./bench/embedbench [-n 20000] [-latency 20ms] [-inflight 8] [-batch 64] [-dim 384] [-encoding float|base64] [-mode direct,pool] [-repeat 3]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/embed/openaitest"
)

var (
	nFlag      = flag.Int("n", 20000, "passages to embed")
	lenFlag    = flag.Int("len", 500, "characters per passage")
	latency    = flag.Duration("latency", 20*time.Millisecond, "latency of each request at the fake endpoint")
	inflight   = flag.Int("inflight", 8, "requests the endpoint serves at once (and the client's Concurrency)")
	batch      = flag.Int("batch", 64, "texts per request (the client's MaxBatch)")
	dim        = flag.Int("dim", 384, "vector dimension")
	encoding   = flag.String("encoding", "", `wire format of the vectors: "" (the client's default: base64, falling back to float), float or base64`)
	modes      = flag.String("mode", "direct,pool", "direct, pool or both (comma-separated)")
	producers  = flag.Int("producers", 64, "pool mode: concurrent callers (64 × 32 passages outstanding: 4× what 8 requests of 64 hold, so that batches fill)")
	chunk      = flag.Int("chunk", 32, "pool mode: passages per call")
	workers    = flag.Int("workers", 0, "pool mode: pool workers (default twice -inflight)")
	window     = flag.Duration("window", 0, "pool mode: batch window (default the pool's)")
	minRatio   = flag.Float64("min", 0.9, "exit 1 if a ratio is below this")
	repeatFlag = flag.Int("repeat", 1, "runs per mode (each line printed; compare medians)")
	cpuProf    = flag.String("cpuprofile", "", "write a CPU profile here")
	inProcess  = flag.Bool("inprocess", false, "run the fake endpoint in this process instead of a child process")
	serve      = flag.Bool("serve", false, "internal: be the fake endpoint (print its base URL, serve until stdin closes, print its counters)")
)

func main() {
	flag.Parse()
	if *serve {
		serveEndpoint()
		return
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "embedbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	passages := make([]string, *nFlag)
	for i := range passages {
		passages[i] = passage(i, *lenFlag)
	}
	capacity := float64(*inflight) * float64(*batch) / latency.Seconds()
	enc := *encoding
	if enc == "" {
		enc = "default (base64)"
	}
	fmt.Printf("embedbench: %d passages of %d chars, dim %d, %s encoding; endpoint: %v latency, %d in flight, batch %d; capacity %.0f texts/s\n",
		*nFlag, *lenFlag, *dim, enc, *latency, *inflight, *batch, capacity)
	failed := false
	for _, mode := range strings.Split(*modes, ",") {
		for range *repeatFlag {
			rate, st, err := run(mode, passages)
			if err != nil {
				fmt.Fprintf(os.Stderr, "embedbench: %s: %v\n", mode, err)
				os.Exit(1)
			}
			ratio := rate / capacity
			verdict := "ok"
			if ratio < *minRatio {
				verdict, failed = "BELOW TARGET", true
			}
			cpu := fmt.Sprintf("cpu: client %v, endpoint %v", st.cpu.Round(time.Millisecond), st.endpointCPU.Round(time.Millisecond))
			if *inProcess {
				cpu = fmt.Sprintf("cpu: client and endpoint %v", st.cpu.Round(time.Millisecond))
			}
			fmt.Printf("%-6s %8.0f texts/s  capacity %6.0f  ratio %.3f  requests %d (avg %.1f texts)  max in flight %d  refused %d  wall %v  %s (%d cores)  %s\n",
				mode, rate, capacity, ratio, st.Requests, float64(*nFlag)/float64(st.Requests), st.MaxInFlight, st.Violations,
				st.wall.Round(time.Millisecond), cpu, runtime.NumCPU(), verdict)
		}
	}
	if failed {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type stats struct {
	Requests, MaxInFlight, Violations int           // the endpoint's counters
	cpu, wall                         time.Duration // of this process during the run
	endpointCPU                       time.Duration // of the endpoint's process
}

// cpuTime is the user and system time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(mode string, passages []string) (float64, stats, error) {
	ep, err := startEndpoint()
	if err != nil {
		return 0, stats{}, err
	}
	defer ep.close()
	o, err := embed.NewOpenAI(embed.OpenAIConfig{
		BaseURL:        ep.baseURL,
		APIKeyEnv:      "EMBEDBENCH_NO_KEY",
		MaxBatch:       *batch,
		Concurrency:    *inflight,
		MaxAttempts:    1,
		EncodingFormat: *encoding,
	})
	if err != nil {
		return 0, stats{}, err
	}
	defer o.Close()
	ctx := context.Background()
	var vs [][]float32
	cpu0 := cpuTime()
	start := time.Now()
	switch mode {
	case "direct":
		vs, err = o.Embed(ctx, passages)
	case "pool":
		vs, err = viaPool(ctx, o, passages)
	default:
		return 0, stats{}, fmt.Errorf("unknown mode %q", mode)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	if err != nil {
		return 0, stats{}, err
	}
	for i, v := range vs {
		if len(v) != *dim {
			return 0, stats{}, fmt.Errorf("vector %d has dimension %d", i, len(v))
		}
	}
	st, err := ep.close()
	if err != nil {
		return 0, stats{}, err
	}
	st.cpu, st.wall = cpu, elapsed
	if st.Violations > 0 {
		return 0, st, fmt.Errorf("%d requests beyond %d in flight", st.Violations, *inflight)
	}
	return float64(len(passages)) / elapsed.Seconds(), st, nil
}

// endpoint is the fake endpoint of one run, in this process or a child.
type endpoint struct {
	baseURL string
	srv     *openaitest.Server // in process
	cmd     *exec.Cmd          // child
	stdin   io.WriteCloser
	stdout  *bufio.Reader
	closed  bool
}

func endpointConfig() openaitest.Config {
	return openaitest.Config{Dimension: *dim, Latency: *latency, MaxInFlight: *inflight}
}

// startEndpoint starts the fake endpoint: a child process running this
// program with -serve (as a real endpoint would be another machine, its
// work does not take the client's CPU scheduling), or with -inprocess an
// openaitest.Server here.
func startEndpoint() (*endpoint, error) {
	if *inProcess {
		srv := openaitest.New(endpointConfig())
		return &endpoint{baseURL: srv.BaseURL(), srv: srv}, nil
	}
	cmd := exec.Command(os.Args[0], "-serve", "-dim", strconv.Itoa(*dim), "-latency", latency.String(), "-inflight", strconv.Itoa(*inflight))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ep := &endpoint{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(out)}
	line, err := ep.stdout.ReadString('\n')
	if err != nil {
		_, _ = ep.close()
		return nil, fmt.Errorf("fake endpoint: %w", err)
	}
	ep.baseURL = strings.TrimSpace(line)
	return ep, nil
}

// close stops the endpoint and returns its counters.
func (ep *endpoint) close() (stats, error) {
	if ep.closed {
		return stats{}, nil
	}
	ep.closed = true
	if ep.srv != nil {
		st := stats{Requests: ep.srv.Requests(), MaxInFlight: ep.srv.MaxInFlightSeen(), Violations: ep.srv.Violations()}
		ep.srv.Close()
		return st, nil
	}
	ep.stdin.Close()
	var st stats
	line, rerr := ep.stdout.ReadString('\n')
	werr := ep.cmd.Wait()
	if err := errors.Join(rerr, werr); err != nil {
		return st, fmt.Errorf("fake endpoint: %w", err)
	}
	if err := json.Unmarshal([]byte(line), &st); err != nil {
		return st, fmt.Errorf("fake endpoint: %w", err)
	}
	st.endpointCPU = ep.cmd.ProcessState.UserTime() + ep.cmd.ProcessState.SystemTime()
	return st, nil
}

// serveEndpoint is the child process of startEndpoint.
func serveEndpoint() {
	srv := openaitest.New(endpointConfig())
	fmt.Println(srv.BaseURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	st := stats{Requests: srv.Requests(), MaxInFlight: srv.MaxInFlightSeen(), Violations: srv.Violations()}
	srv.Close()
	b, _ := json.Marshal(st)
	fmt.Println(string(b))
}

// viaPool embeds passages through a Pool from concurrent producers.
func viaPool(ctx context.Context, e embed.Embedder, passages []string) ([][]float32, error) {
	// By default twice as many workers as requests in flight: while 8 wait
	// for the endpoint, the others encode requests and decode responses.
	w := *workers
	if w == 0 {
		w = 2 * *inflight
	}
	p, err := embed.NewPool(e, embed.PoolConfig{Workers: w, MaxBatch: *batch, BatchWindow: *window})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	out := make([][]float32, len(passages))
	next := make(chan int)
	go func() {
		defer close(next)
		for lo := 0; lo < len(passages); lo += *chunk {
			next <- lo
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, *producers)
	for g := range *producers {
		wg.Go(func() {
			for lo := range next {
				hi := min(lo+*chunk, len(passages))
				vs, err := p.Embed(ctx, passages[lo:hi])
				if err != nil {
					errs[g] = err
					for range next { // drain
					}
					return
				}
				copy(out[lo:hi], vs)
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// passage returns a deterministic English-like passage of n characters.
func passage(seed, n int) string {
	words := strings.Fields("the of a boundary layer flow wing lift drag mach number supersonic pressure " +
		"distribution heat transfer plate shock wave theory experimental results shell buckling " +
		"stress panel flutter velocity temperature surface model tunnel measured compressible")
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}
