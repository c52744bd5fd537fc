// Package server is ragd's server: the gRPC services of api/ragv1
// (Collections, Documents, Embeddings, plus the standard health service and
// reflection) on one port, and on another the same methods as REST through
// grpc-gateway, OpenAI's POST /v1/embeddings, /metrics, /healthz, /readyz and
// /openapi.json.
//
// # Shape
//
// REST requests are decoded by grpc-gateway and handed to the same service
// methods in process, through the same interceptors (rest.go), so that both
// APIs share one implementation, one chain of interceptors and one error
// mapping; metrics label them api="grpc" and api="rest". The chain, outermost first: Prometheus request metrics, then
// observe (request id, a log line, panic recovery), authentication and
// authorisation by role (interceptors.go), the in-flight limit, the method.
// The methods (service.go) convert and check requests against Limits
// (convert.go), embed texts through the collection's embedder (embedders.go)
// and call the index.
//
// # Errors
//
// status.go is the one place that maps errors to gRPC codes; HTTP statuses
// follow grpc-gateway's mapping of the codes, except 413 for a body over the
// limit, which is refused before decoding. Every error message names the
// offending field; a *fieldError adds a google.rpc.BadRequest detail with its
// path. Failures of the server's own (Internal, DataLoss) reach the client as
// "internal error; see the server log" and the log has the cause with the
// request id.
//
// # Lifecycle
//
// Start listens at once and opens the index in the background: until it is
// open, /readyz answers 503 and the API Unavailable with a retry delay.
// Shutdown stops accepting on both ports, lets requests in flight finish
// within Config.ShutdownTimeout, and snapshots and closes the index.
//
// # Concurrency
//
// A Server is safe for concurrent use. It owns its serving goroutines and
// the index loader; Shutdown stops and waits for all of them.
package server
