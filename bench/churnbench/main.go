// Command churnbench measures the index under churn. It builds a
// collection, then runs rounds of "update 20 % of the documents (a new
// vector), delete 5 %, insert 5 %" with searches and single-document
// upserts running alongside, and after each round reports recall@10
// against the exact ground truth of the live set, QPS, graph bytes per live
// vector, tombstones, compactions, and the latency of the single-document
// upserts, overall and during graph snapshots. At the end it builds the
// final live set fresh, in a collection of its own, for comparison.
//
//	go run ./bench/churnbench [-data synth -docs 100000 -dim 384 | -data mnist -docs 50000] [-rounds 10]
//	go run ./bench/churnbench -bench stall [-docs 100000] [-probe 4] [-for 30s] [-snapshot 2s]
//
// The stall bench uses only the index API that predates the churn work, so
// that the same file runs against an older tree for a before/after table.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ragd/ragd/index"
)

func main() {
	flag.Parse()
	dir := *dirF
	if dir == "" {
		d, err := os.MkdirTemp("", "ragd-churnbench-")
		check(err)
		defer os.RemoveAll(d)
		dir = d
	}
	switch *benchF {
	case "churn":
		check(runChurn(dir))
	case "stall":
		check(runStall(dir))
	default:
		check(fmt.Errorf("-bench %q: want churn or stall", *benchF))
	}
}

// churn is one churn run's state.
type churn struct {
	c     *corpus
	coll  *index.Collection
	ev    *events
	probe []int // documents only the probe clients update
}

func runChurn(dir string) error {
	ctx := context.Background()
	var c *corpus
	switch *dataF {
	case "synth":
		c = newSynth(*docsN, *dim, *nQueries)
	case "mnist":
		var err error
		if c, err = newMNIST(*dataDir, *docsN, *nQueries); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-data %q: want synth or mnist", *dataF)
	}
	ev := &events{}
	ix, err := index.Open(filepath.Join(dir, "churn"), index.Config{
		Logger: logger(ev), SnapshotInterval: *snapEvery, CompactTombstoneRatio: *ratioF,
	})
	if err != nil {
		return err
	}
	defer ix.Close()
	coll, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "churn", Dimension: c.dim, Metric: c.metric, Shards: *shardsF})
	if err != nil {
		return err
	}
	fmt.Printf("`churnbench %s`\n\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("%s: %d documents × %d-d, %s, %d shard(s), HNSW M 16, efConstruction 200; queries: %d, k %d, ef %d; "+
		"per round: update %.0f %%, delete %.0f %%, insert %.0f %% in writes of %d operations, with %d search client(s) and %d single-document upsert client(s) running; "+
		"snapshots every %s; background compaction at a tombstone ratio of %v; GOMAXPROCS %d, %s, %s.\n\n",
		*dataF, *docsN, c.dim, c.metric, *shardsF, *nQueries, *kFlag, *efFlag,
		100**updateF, 100**deleteF, 100**insertF, *batchF, *searchers, *probes, snapEvery, effectiveRatio(),
		runtime.GOMAXPROCS(0), runtime.Version(), time.Now().Format("2006-01-02"))
	took, err := load(coll, c.doc, *docsN)
	if err != nil {
		return err
	}
	fmt.Printf("built in %.1f s\n\n", took.Seconds())
	ch := &churn{c: c, coll: coll, ev: ev}
	for d := range min(1000, *docsN/20) {
		ch.probe = append(ch.probe, d)
	}
	header(os.Stdout)
	first, err := ch.measure("0 (built)", 0, latencies{}, took)
	if err != nil {
		return err
	}
	first.print(os.Stdout)
	last := first
	for r := 1; r <= *rounds; r++ {
		if last, err = ch.round(r); err != nil {
			return err
		}
		last.print(os.Stdout)
	}
	if !*freshF {
		return nil
	}
	// The final live set, built fresh with the same vectors.
	fresh, err := ix.CreateCollection(ctx, index.CollectionConfig{Name: "fresh", Dimension: c.dim, Metric: c.metric, Shards: *shardsF})
	if err != nil {
		return err
	}
	live := c.liveDocs()
	freshTook, err := load(fresh, func(i int) index.Document { return c.doc(live[i]) }, len(live))
	if err != nil {
		return err
	}
	churned := ch.coll
	ch.coll = fresh
	f, err := ch.measure("fresh build", 0, latencies{}, freshTook)
	if err != nil {
		return err
	}
	f.print(os.Stdout)
	// QPS of the two, measured in turns so that drift on a shared machine
	// falls on both.
	var qc, qf []float64
	for range 5 {
		for _, x := range []struct {
			coll *index.Collection
			out  *[]float64
		}{{churned, &qc}, {fresh, &qf}} {
			q, err := ch.qps(x.coll)
			if err != nil {
				return err
			}
			*x.out = append(*x.out, q)
		}
	}
	slices.Sort(qc)
	slices.Sort(qf)
	fmt.Printf("\nQPS measured in turns, 5 × %d queries each: churned %.0f, fresh %.0f (medians)\n", len(ch.c.queries), qc[2], qf[2])
	fmt.Printf("\nafter %d rounds vs a fresh build of the same %d live documents: recall %+.2f points (goal ≥ −1), QPS %+.1f %% (goal ≥ −10 %%), "+
		"graph bytes per live vector %+.1f %%, of them used %+.1f %% (goal ≤ +15 %%)\n",
		*rounds, len(live), 100*(last.recall-f.recall), 100*(qc[2]/qf[2]-1),
		100*(last.bytesPerLive/f.bytesPerLive-1), 100*(last.usedPer/f.usedPer-1))
	return nil
}

// round runs one round of churn with searches and probe upserts alongside,
// then measures.
func (ch *churn) round(r int) (row, error) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(r), 77))
	probe := map[int]bool{}
	for _, d := range ch.probe {
		probe[d] = true
	}
	var pool []int
	for _, d := range ch.c.liveDocs() {
		if !probe[d] {
			pool = append(pool, d)
		}
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	n := float64(ch.c.live)
	nu, nd, ni := int(*updateF*n), int(*deleteF*n), int(*insertF*n)
	if nu+nd > len(pool) {
		return row{}, fmt.Errorf("round %d: %d updates and %d deletes need more documents than %d", r, nu, nd, len(pool))
	}
	type op struct{ kind, doc int } // kind 0 update, 1 delete, 2 insert
	ops := make([]op, 0, nu+nd+ni)
	for _, d := range pool[:nu] {
		ops = append(ops, op{0, d})
	}
	for _, d := range pool[nu : nu+nd] {
		ops = append(ops, op{1, d})
	}
	for range ni {
		ops = append(ops, op{2, 0})
	}
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })

	start := time.Now()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var searches atomic.Int64
	errs := make(chan error, *searchers+*probes+1)
	for s := range *searchers {
		wg.Go(func() {
			qr := rand.New(rand.NewPCG(uint64(r), uint64(s)))
			for !stop.Load() {
				q := ch.c.queries[qr.IntN(len(ch.c.queries))]
				if _, err := ch.coll.Search(ctx, index.SearchRequest{Vector: q, K: *kFlag, Ef: *efFlag, Mode: index.ModeVector}); err != nil {
					errs <- err
					return
				}
				searches.Add(1)
			}
		})
	}
	var mu sync.Mutex
	var samples []sample
	for p := range *probes {
		wg.Go(func() {
			pr := rand.New(rand.NewPCG(uint64(r), 1000+uint64(p)))
			var mine []sample
			for !stop.Load() {
				d := ch.probe[pr.IntN(len(ch.probe))]
				if d%*probes != p {
					continue // each client has its own documents
				}
				doc := ch.c.update(d)
				s := time.Now()
				if _, err := ch.coll.Upsert(ctx, []index.Document{doc}); err != nil {
					errs <- err
					return
				}
				mine = append(mine, sample{s, time.Since(s)})
			}
			mu.Lock()
			samples = append(samples, mine...)
			mu.Unlock()
		})
	}
	var werr error
	for i := 0; i < len(ops) && werr == nil; i += *batchF {
		var puts []index.Document
		var dels []string
		for _, o := range ops[i:min(i+*batchF, len(ops))] {
			switch o.kind {
			case 0:
				puts = append(puts, ch.c.update(o.doc))
			case 1:
				dels = append(dels, ch.c.remove(o.doc))
			default:
				puts = append(puts, ch.c.insert())
			}
		}
		if len(puts) > 0 {
			_, werr = ch.coll.Upsert(ctx, puts)
		}
		if len(dels) > 0 && werr == nil {
			_, werr = ch.coll.Delete(ctx, dels)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	if werr != nil {
		return row{}, werr
	}
	for err := range errs {
		return row{}, err
	}
	end := time.Now()
	snaps, comps := ch.ev.spans(start, end)
	lat := summarise(samples, snaps, comps)
	res, err := ch.measure(fmt.Sprint(r), float64(searches.Load())/end.Sub(start).Seconds(), lat, end.Sub(start))
	return res, err
}

// quiesce waits (up to a minute) until no compaction of the collection is
// in progress, so that QPS is measured on the graph rather than against
// the compactor; tombstones the policy leaves stay.
func (ch *churn) quiesce(coll *index.Collection) error {
	deadline := time.Now().Add(time.Minute)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); {
		st, err := coll.Stats(context.Background())
		if err != nil {
			return err
		}
		if st.Compacting == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// qps runs the query set once, one query at a time, and returns the rate.
func (ch *churn) qps(coll *index.Collection) (float64, error) {
	t0 := time.Now()
	for _, q := range ch.c.queries {
		if _, err := coll.Search(context.Background(), index.SearchRequest{Vector: q, K: *kFlag, Ef: *efFlag, Mode: index.ModeVector}); err != nil {
			return 0, err
		}
	}
	return float64(len(ch.c.queries)) / time.Since(t0).Seconds(), nil
}

// measure computes recall over the query set and QPS (one client, the
// median of five passes) once compactions are over, and reads the
// collection's stats.
func (ch *churn) measure(name string, churnQPS float64, lat latencies, took time.Duration) (row, error) {
	ctx := context.Background()
	if err := ch.quiesce(ch.coll); err != nil {
		return row{}, err
	}
	truth := ch.c.truth(*kFlag)
	hits := 0
	for qi, q := range ch.c.queries {
		res, err := ch.coll.Search(ctx, index.SearchRequest{Vector: q, K: *kFlag, Ef: *efFlag, Mode: index.ModeVector})
		if err != nil {
			return row{}, err
		}
		want := map[string]bool{}
		for _, id := range truth[qi] {
			want[id] = true
		}
		for _, h := range res.Hits {
			if want[h.ID] {
				hits++
			}
		}
	}
	var qps []float64
	for range 5 {
		q, err := ch.qps(ch.coll)
		if err != nil {
			return row{}, err
		}
		qps = append(qps, q)
	}
	st, err := ch.coll.Stats(ctx)
	if err != nil {
		return row{}, err
	}
	slices.Sort(qps)
	return row{
		name: name, live: st.Vectors,
		recall:     float64(hits) / float64(len(ch.c.queries)**kFlag),
		qps:        qps[2],
		churnQPS:   churnQPS,
		tombstones: st.Tombstones, compactions: int(st.Compactions), reclaimed: st.Reclaimed,
		bytesPerLive: float64(st.GraphBytes) / float64(st.Vectors),
		usedPer:      float64(st.GraphUsedBytes) / float64(st.Vectors),
		upserts:      lat,
		took:         took,
	}, nil
}

func effectiveRatio() string {
	r := *ratioF
	if r == 0 {
		r = index.DefaultConfig().CompactTombstoneRatio
	}
	if r < 0 {
		return "never (off)"
	}
	return fmt.Sprint(r)
}
