// Command askbench measures the time ragd adds around the LLM call of an
// answer (retrieve, prompt building, the relay of the stream): it serves a
// collection of -docs chunks and an instant fake LLM (rag/chattest) on
// loopback, and times, at each number of clients,
//
//   - ask: POST /v1/collections/NAME/ask over REST, JSON and streamed
//     (Server-Sent Events, timed to the done event);
//   - llm: the same chat request sent straight to the fake, replayed from
//     what ragd sent it — the LLM call alone as ragd sees it;
//   - search: the retrieval alone (POST …/search with the ask's k).
//
// ask − llm is what ragd adds. The collection is Zipfian text (bench/
// internal/synth) embedded by the hash embedder at -dim dimensions, which
// also embeds the questions (the local model would add its ~10 ms per
// question to every figure). Questions are five vocabulary words.
//
//	go run ./bench/askbench [-docs 100000] [-dim 384] [-dir DIR] [-dur 10s] [-rounds 3] [-clients 1,8] [-out FILE]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ragd/ragd/bench/internal/synth"
	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/rag"
	"github.com/ragd/ragd/rag/chattest"
	"github.com/ragd/ragd/server"
)

var (
	docsN    = flag.Int("docs", 100000, "chunks in the collection")
	dim      = flag.Int("dim", 384, "vector dimension (hash embedder)")
	dirF     = flag.String("dir", "", "data folder, reused when it holds the collection (default: a temporary one)")
	dur      = flag.Duration("dur", 10*time.Second, "measured time of each phase")
	warm     = flag.Duration("warmup", 2*time.Second, "unmeasured load before each phase")
	rounds   = flag.Int("rounds", 3, "rounds")
	clientsF = flag.String("clients", "1,8", "concurrent clients (comma-separated)")
	kFlag    = flag.Int("k", 8, "passages retrieved per ask")
	outF     = flag.String("out", "", "also write the report here")
)

const coll = "chunks"

func main() {
	flag.Parse()
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "askbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func mainErr() error {
	var clients []int
	for _, s := range strings.Split(*clientsF, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-clients: %q is not a positive number", s)
		}
		clients = append(clients, n)
	}
	dir := *dirF
	if dir == "" {
		d, err := os.MkdirTemp("", "ragd-askbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := prepare(dir); err != nil {
		return err
	}
	llm := chattest.New(chattest.Config{Answer: chattest.Fixed("The sources say so [1], and more [2].")})
	defer llm.Close()
	s, err := server.New(server.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		Index: index.Config{NoSync: true, SnapshotInterval: -1},
		LLM:   rag.Config{BaseURL: llm.BaseURL(), Model: "gpt-4o-mini"}})
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	defer s.Shutdown(context.Background())
	ctx := context.Background()
	if err := s.WaitReady(ctx); err != nil {
		return err
	}
	base := "http://" + s.HTTPAddr()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// One ask, to capture the chat request ragd makes for replay.
	if _, err := ask(ctx, hc, base, question(rand.New(rand.NewPCG(1, 1))), false); err != nil {
		return fmt.Errorf("first ask: %w", err)
	}
	last := llm.Last()
	replay := last.Body
	tests := []struct {
		name string
		call func(context.Context, *rand.Rand) error
	}{
		{"ask", func(ctx context.Context, r *rand.Rand) error {
			_, err := ask(ctx, hc, base, question(r), false)
			return err
		}},
		{"ask stream", func(ctx context.Context, r *rand.Rand) error {
			_, err := ask(ctx, hc, base, question(r), true)
			return err
		}},
		{"llm", func(ctx context.Context, _ *rand.Rand) error {
			return post(ctx, hc, llm.BaseURL()+"/chat/completions", replay)
		}},
		{"search", func(ctx context.Context, r *rand.Rand) error {
			body, _ := json.Marshal(map[string]any{"query": question(r), "k": *kFlag})
			return post(ctx, hc, base+"/v1/collections/"+coll+"/search", body)
		}},
	}
	results := map[string][]stats{}
	for r := range *rounds {
		logf("round %d of %d", r+1, *rounds)
		for _, c := range clients {
			for _, tc := range tests {
				st, err := run(ctx, c, tc.call)
				if err != nil {
					return fmt.Errorf("%s at %d clients: %w", tc.name, c, err)
				}
				k := fmt.Sprintf("%s/%d", tc.name, c)
				results[k] = append(results[k], st)
				logf("  %-10s %2d clients: %6.0f/s, p50 %6.2f ms, p99 %6.2f ms (%d calls)", tc.name, c, st.rate, ms(st.p50), ms(st.p99), st.n)
			}
		}
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "askbench: %d chunks, %d-d hash embedder, k %d, instant fake LLM (rag/chattest) on loopback; %d rounds of %v, medians over rounds.\n",
		*docsN, *dim, *kFlag, *rounds, *dur)
	fmt.Fprintf(&out, "Prompt of %d bytes (%d passages retrieved per ask).\n\n", len(replay), *kFlag)
	fmt.Fprintln(&out, "| clients | call | calls/s | p50 ms | p99 ms |")
	fmt.Fprintln(&out, "|---:|---|---:|---:|---:|")
	for _, c := range clients {
		for _, tc := range tests {
			st := median(results[fmt.Sprintf("%s/%d", tc.name, c)])
			fmt.Fprintf(&out, "| %d | %s | %.0f | %.2f | %.2f |\n", c, tc.name, st.rate, ms(st.p50), ms(st.p99))
		}
	}
	fmt.Fprintln(&out, "\nTime ragd adds around the LLM call (ask − llm, medians of each round's percentile):")
	fmt.Fprintln(&out, "\n| clients | JSON p50 | JSON p99 | stream p50 | stream p99 |")
	fmt.Fprintln(&out, "|---:|---:|---:|---:|---:|")
	for _, c := range clients {
		a, as, l := median(results[fmt.Sprintf("ask/%d", c)]), median(results[fmt.Sprintf("ask stream/%d", c)]), median(results[fmt.Sprintf("llm/%d", c)])
		fmt.Fprintf(&out, "| %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", c, ms(a.p50-l.p50), ms(a.p99-l.p99), ms(as.p50-l.p50), ms(as.p99-l.p99))
	}
	os.Stdout.Write(out.Bytes())
	if *outF != "" {
		return os.WriteFile(*outF, out.Bytes(), 0o644)
	}
	return nil
}

// prepare builds the collection in dir unless it is there.
func prepare(dir string) error {
	ix, err := index.Open(dir, index.Config{NoSync: true, SnapshotInterval: -1})
	if err != nil {
		return err
	}
	defer ix.Close()
	if c, err := ix.Collection(coll); err == nil {
		if n, err := c.Count(context.Background()); err == nil && n == *docsN {
			logf("reusing %d chunks in %s", n, dir)
			return nil
		}
		if err := ix.DropCollection(context.Background(), coll); err != nil {
			return err
		}
	}
	h, err := embed.NewHash(embed.HashConfig{Dimension: *dim})
	if err != nil {
		return err
	}
	c, err := ix.CreateCollection(context.Background(), index.CollectionConfig{Name: coll, Dimension: *dim,
		Embedder: index.EmbedderConfig{Provider: server.ProviderHash, Model: "hash-" + strconv.Itoa(*dim), Dimension: *dim}})
	if err != nil {
		return err
	}
	start := time.Now()
	const batch = 1000
	for lo := 0; lo < *docsN; lo += batch {
		docs := make([]index.Document, 0, batch)
		texts := make([]string, 0, batch)
		for i := lo; i < min(lo+batch, *docsN); i++ {
			d := synth.Document(i, 0)
			d.Metadata = map[string]any{"source": fmt.Sprintf("doc-%d.md", i/4), "chunk": i % 4}
			docs = append(docs, d)
			texts = append(texts, d.Text)
		}
		vs, err := h.Embed(context.Background(), texts)
		if err != nil {
			return err
		}
		for i := range docs {
			docs[i].Vector = vs[i]
		}
		if _, err := c.Upsert(context.Background(), docs); err != nil {
			return err
		}
		if lo%20000 == 0 {
			logf("built %d chunks", lo+len(docs))
		}
	}
	logf("built %d chunks in %v", *docsN, time.Since(start).Round(time.Second))
	return nil
}

func question(r *rand.Rand) string {
	w := make([]string, 5)
	for i := range w {
		w[i] = synth.Vocabulary[r.IntN(2000)]
	}
	return strings.Join(w, " ")
}

// ask posts a question; stream reads Server-Sent Events to the done event.
func ask(ctx context.Context, hc *http.Client, base, q string, stream bool) (string, error) {
	body, _ := json.Marshal(map[string]any{"question": q, "k": *kFlag, "stream": stream})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/collections/"+coll+"/ask", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	if stream && !bytes.Contains(b, []byte("event: done")) {
		return "", errors.New("stream without a done event")
	}
	return string(b), nil
}

func post(ctx context.Context, hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return nil
}

type stats struct {
	n        int
	rate     float64
	p50, p99 time.Duration
}

// run has c clients call back to back for the warm-up, then for dur, and
// returns the measured calls' rate and latency percentiles.
func run(ctx context.Context, c int, call func(context.Context, *rand.Rand) error) (stats, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	start := time.Now()
	measureFrom, end := start.Add(*warm), start.Add(*warm+*dur)
	var wg sync.WaitGroup
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			var mine []time.Duration
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				err := call(ctx, r)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				if t0.After(measureFrom) {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return stats{}, firstErr
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return stats{}, errors.New("no calls measured")
	}
	return stats{n: len(lat), rate: float64(len(lat)) / dur.Seconds(),
		p50: lat[len(lat)/2], p99: lat[min(len(lat)-1, len(lat)*99/100)]}, nil
}

// median is the per-field median over rounds.
func median(sts []stats) stats {
	pick := func(f func(stats) float64) float64 {
		v := make([]float64, len(sts))
		for i, s := range sts {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return stats{
		rate: pick(func(s stats) float64 { return s.rate }),
		p50:  time.Duration(pick(func(s stats) float64 { return float64(s.p50) })),
		p99:  time.Duration(pick(func(s stats) float64 { return float64(s.p99) })),
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
