package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

var (
	benchF    = flag.String("bench", "churn", "churn (rounds of updates, deletes and inserts) or stall (single-document upserts during snapshots)")
	dataF     = flag.String("data", "synth", "synth (random unit vectors, cosine) or mnist (L2, from -datadir)")
	dataDir   = flag.String("datadir", "bench/data", "folder of mnist-784-euclidean.{base,query}.fvecs (make bench-data-mnist)")
	docsN     = flag.Int("docs", 100000, "documents built before the churn")
	dim       = flag.Int("dim", 384, "vector dimension (synth)")
	rounds    = flag.Int("rounds", 10, "churn rounds")
	updateF   = flag.Float64("update", 0.2, "fraction of the documents updated (new vector) per round")
	deleteF   = flag.Float64("delete", 0.05, "fraction of the documents deleted per round")
	insertF   = flag.Float64("insert", 0.05, "fraction of the documents inserted per round")
	nQueries  = flag.Int("queries", 200, "queries for recall and QPS")
	kFlag     = flag.Int("k", 10, "neighbours per query")
	efFlag    = flag.Int("ef", 100, "search beam width")
	shardsF   = flag.Int("shards", 1, "shards of the collection")
	batchF    = flag.Int("batch", 100, "operations per churn write: one upsert call and one delete call")
	buildB    = flag.Int("build-batch", 256, "documents per upsert while building")
	snapEvery = flag.Duration("snapshot", 5*time.Second, "the index's SnapshotInterval")
	ratioF    = flag.Float64("compact", 0, "the index's CompactTombstoneRatio (0: its default; negative: no background compaction)")
	searchers = flag.Int("searchers", 1, "search clients running during the churn")
	probes    = flag.Int("probe", 1, "clients doing single-document upserts during the churn (or the stall run); their latency is reported")
	stallFor  = flag.Duration("for", 30*time.Second, "stall: how long the single-document upserts run")
	freshF    = flag.Bool("fresh", true, "churn: build the final live set fresh and compare")
	dirF      = flag.String("dir", "", "work directory (default: a temporary one, removed at the end)")
	verbose   = flag.Bool("v", false, "print the index's log")
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "churnbench:", err)
		os.Exit(1)
	}
}
