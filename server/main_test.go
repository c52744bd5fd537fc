package server

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("RAGD_NO_GOLEAK") != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m,
		// The OpenCensus-free otel SDK and grpc's own background goroutines
		// are owned by the library and stopped lazily.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}
