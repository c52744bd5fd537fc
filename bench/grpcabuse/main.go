// Command grpcabuse sends N gRPC Upsert calls of one large document at
// once, without an API key (or with -key), and prints how many ended with
// each status code: the gRPC case of bench/server-abuse.sh.
//
//	go run ./bench/grpcabuse -addr 127.0.0.1:18101 [-n 24] [-mb 31] [-key KEY]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ragv1 "github.com/ragd/ragd/api/ragv1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "ragd's gRPC address")
	n := flag.Int("n", 24, "calls at once")
	mb := flag.Int("mb", 31, "megabytes of text in each call")
	key := flag.String("key", "", "API key to send (default: none)")
	flag.Parse()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcabuse:", err)
		os.Exit(1)
	}
	defer conn.Close()
	cl := ragv1.NewDocumentsClient(conn)
	text := strings.Repeat("a", *mb*1_000_000)
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if *key != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*key)
			}
			_, err := cl.Upsert(ctx, &ragv1.UpsertDocumentsRequest{Collection: "x", Documents: []*ragv1.Document{{Text: text}}})
			mu.Lock()
			counts[status.Code(err).String()]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	var out []string
	for c, k := range counts {
		out = append(out, fmt.Sprintf("%d %s", k, c))
	}
	sort.Strings(out)
	fmt.Printf("%s in %.2f s\n", strings.Join(out, ", "), time.Since(start).Seconds())
}
