package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// requestIDKey is the header and metadata key of a request's id: taken
// from the client when it sends one (a proxy's), else made here, and
// returned in the response headers.
const requestIDKey = "x-request-id"

// newRequestID returns 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestID returns the id the client sent in md (a proxy's, or the REST
// layer's), or a new one. Client ids longer than 128 bytes or with
// characters outside printable ASCII are replaced.
func requestID(md metadata.MD) string {
	if v := md.Get(requestIDKey); len(v) > 0 && len(v[0]) > 0 && len(v[0]) <= 128 {
		ok := true
		for _, c := range []byte(v[0]) {
			if c < 0x21 || c > 0x7e {
				ok = false
				break
			}
		}
		if ok {
			return v[0]
		}
	}
	return newRequestID()
}

// internalError is a status hiding its cause from the client; the
// observing interceptor logs the cause with the request id.
type internalError struct {
	st    *status.Status
	cause error
}

func (e *internalError) Error() string              { return e.st.Message() }
func (e *internalError) GRPCStatus() *status.Status { return e.st }
func (e *internalError) Unwrap() error              { return e.cause }

// methodRoles is the role each method needs; methods not listed (health,
// reflection) need none.
var methodRoles = map[string]Role{
	"/ragd.v1.Collections/Create":    RoleAdmin,
	"/ragd.v1.Collections/Delete":    RoleAdmin,
	"/ragd.v1.Collections/List":      RoleRead,
	"/ragd.v1.Collections/Get":       RoleRead,
	"/ragd.v1.Collections/Calibrate": RoleAdmin,
	"/ragd.v1.Documents/Upsert":      RoleWrite,
	upsertStreamMethod:               RoleWrite,
	"/ragd.v1.Documents/Delete":      RoleWrite,
	"/ragd.v1.Documents/DeleteMany":  RoleWrite,
	"/ragd.v1.Documents/Get":         RoleRead,
	"/ragd.v1.Documents/Scan":        RoleRead,
	"/ragd.v1.Documents/Search":      RoleRead,
	"/ragd.v1.Documents/SearchBatch": RoleRead,
	"/ragd.v1.Embeddings/Create":     RoleRead,
	askMethod:                        RoleRead,
}

// authenticator checks API keys. Keys are held as SHA-256 digests, so a
// lookup compares digests, not the secret itself, and a memory dump shows
// no key.
type authenticator struct {
	keys map[[sha256.Size]byte]APIKey
}

func newAuthenticator(keys []APIKey) *authenticator {
	a := &authenticator{keys: map[[sha256.Size]byte]APIKey{}}
	for _, k := range keys {
		a.keys[sha256.Sum256([]byte(k.Key))] = APIKey{Name: k.Name, Role: k.Role}
	}
	return a
}

// openMethod reports whether a method needs no key and no in-flight slot:
// health checks and reflection (the API's schema, no data).
func openMethod(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

// roleOf is the role a method needs: its entry in methodRoles, none for the
// open methods, admin for anything else (deny by default).
func roleOf(method string) Role {
	if r, ok := methodRoles[method]; ok {
		return r
	}
	if openMethod(method) {
		return 0
	}
	return RoleAdmin
}

// keyFrom finds the API key of a request in its headers or metadata (get
// returns a key's values; names are lower case).
func keyFrom(get func(string) []string) (string, error) {
	if v := get("authorization"); len(v) > 0 {
		scheme, token, found := strings.Cut(v[0], " ")
		if !found || !strings.EqualFold(scheme, "bearer") {
			return "", status.Error(codes.Unauthenticated, "authorization header: want \"Bearer <api key>\"")
		}
		return strings.TrimSpace(token), nil
	}
	if v := get("api-key"); len(v) > 0 {
		return v[0], nil
	}
	if v := get("x-api-key"); len(v) > 0 {
		return v[0], nil
	}
	return "", nil
}

// lookup returns the key's entry, or Unauthenticated.
func (a *authenticator) lookup(key string) (APIKey, error) {
	if key == "" {
		return APIKey{}, status.Error(codes.Unauthenticated, "missing API key: send \"Authorization: Bearer <key>\" or an \"api-key\" header")
	}
	k, ok := a.keys[sha256.Sum256([]byte(key))]
	if !ok {
		return APIKey{}, status.Error(codes.Unauthenticated, "invalid API key")
	}
	return k, nil
}

// check authorizes a call of method; it returns the key (Name "" and Role
// admin without authentication: a keyless server trusts its loopback
// callers).
func (a *authenticator) check(ctx context.Context, method string) (APIKey, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return a.checkMD(md, method)
}

// checkMD is check with the call's metadata.
func (a *authenticator) checkMD(md metadata.MD, method string) (APIKey, error) {
	need := roleOf(method)
	if len(a.keys) == 0 {
		return APIKey{Role: RoleAdmin}, nil
	}
	if need == 0 {
		return APIKey{}, nil
	}
	key, err := keyFrom(md.Get)
	if err != nil {
		return APIKey{}, err
	}
	k, err := a.lookup(key)
	if err != nil {
		return APIKey{}, err
	}
	if k.Role < need {
		return k, status.Errorf(codes.PermissionDenied, "API key %q has role %s; %s needs %s", k.Name, k.Role, method, need)
	}
	return k, nil
}

// checkHeader is the early check of a REST request, before its body is
// read: any valid key passes (the method's role is checked later).
func (a *authenticator) checkHeader(h http.Header) error {
	if len(a.keys) == 0 {
		return nil
	}
	key, err := keyFrom(func(name string) []string { return h.Values(name) })
	if err != nil {
		return err
	}
	_, err = a.lookup(key)
	return err
}

// limiter bounds the requests in flight.
type limiter chan struct{}

// acquire takes a slot for a call of method. Open methods take none, and
// neither does a stream: UpsertStream takes one per message (an idle
// stream must not hold a slot).
func (l limiter) acquire(method string) error {
	if !limited(method) {
		return nil
	}
	return l.take()
}

// take takes a slot or fails with ResourceExhausted and a retry delay.
func (l limiter) take() error {
	select {
	case l <- struct{}{}:
		return nil
	default:
		return &retryError{code: codes.ResourceExhausted, msg: fmt.Sprintf("too many requests in flight (limit %d); retry", cap(l)), after: time.Second}
	}
}

func (l limiter) release(method string) {
	if limited(method) {
		<-l
	}
}

// give returns a slot from take.
func (l limiter) give() { <-l }

func limited(method string) bool { return !openMethod(method) && method != upsertStreamMethod }

const upsertStreamMethod = "/ragd.v1.Documents/UpsertStream"

// callInfo is what the observer logs of one call.
type callInfo struct {
	method string
	api    string
	id     string
	key    string
	role   Role // the key's; admin on a server without keys
}

// callerRole is the role of the call's key (admin on a server without
// keys), 0 outside a call.
func callerRole(ctx context.Context) (string, Role) {
	if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		return ci.key, ci.role
	}
	return "", 0
}

type callInfoKey struct{}

// observe gives the call a request id, returns it in the headers, runs the
// rest and logs the outcome: Debug for every call, Error with the cause
// for a failure of the server's own.
func (s *Server) observe(ctx context.Context, api, method string, run func(context.Context) error) error {
	md, _ := metadata.FromIncomingContext(ctx)
	ci := &callInfo{method: method, api: api, id: requestID(md)}
	_ = grpc.SetHeader(ctx, metadata.Pairs(requestIDKey, ci.id))
	ctx = context.WithValue(ctx, callInfoKey{}, ci)
	start := time.Now()
	err := s.protect(ctx, ci, run)
	var ie *internalError
	failed := errors.As(err, &ie)
	if !failed && !s.logger.Enabled(ctx, slog.LevelDebug) {
		return err // the common case costs no attributes
	}
	attrs := []slog.Attr{slog.String("api", api), slog.String("method", method), slog.String("code", status.Code(err).String()),
		slog.Duration("dur", time.Since(start)), slog.String("request_id", ci.id)}
	if ci.key != "" {
		attrs = append(attrs, slog.String("api_key", ci.key))
	}
	switch {
	case failed:
		attrs = append(attrs, slog.Any("err", ie.cause))
		s.logger.LogAttrs(ctx, slog.LevelError, "request failed", attrs...)
	case err != nil:
		attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
		s.logger.LogAttrs(ctx, slog.LevelDebug, "request", attrs...)
	default:
		s.logger.LogAttrs(ctx, slog.LevelDebug, "request", attrs...)
	}
	return err
}

// protect authorizes and admits the call, runs it and turns a panic into
// an Internal error (logged with its stack): no request can take the
// process down.
func (s *Server) protect(ctx context.Context, ci *callInfo, run func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &internalError{st: status.New(codes.Internal, "internal error; see the server log"), cause: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
		}
	}()
	if a, ok := ctx.Value(admissionKey{}).(*admission); ok {
		// Admitted by the gRPC tap before the message was read.
		ci.key, ci.role = a.key.Name, a.key.Role
		return run(ctx)
	}
	k, err := s.auth.check(ctx, ci.method)
	ci.key, ci.role = k.Name, k.Role
	if err != nil {
		return err
	}
	if err := s.limit.acquire(ci.method); err != nil {
		return grpcError(err)
	}
	defer s.limit.release(ci.method)
	return run(ctx)
}

// admission is how the gRPC tap admitted a call: its key's name and the
// in-flight slot it took, given back when the call ends.
type admission struct {
	key     APIKey
	method  string
	limit   limiter
	release sync.Once
}

type admissionKey struct{}

// tapHandle admits a gRPC call before its request message is read (up to
// --max-body-bytes of it): a missing or unknown key is refused
// (Unauthenticated), a key whose role is too low too (PermissionDenied),
// and a call over the in-flight limit (ResourceExhausted). grpc-go decodes
// a unary request before any interceptor runs; without this, a client
// without a key could make the server read and decode large messages at
// will. Methods the server does not serve are left to grpc-go.
func (s *Server) tapHandle(ctx context.Context, info *tap.Info) (context.Context, error) {
	if _, known := methodRoles[info.FullMethodName]; !known {
		return ctx, nil
	}
	k, err := s.auth.checkMD(info.Header, info.FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := s.limit.acquire(info.FullMethodName); err != nil {
		return nil, grpcError(err)
	}
	return context.WithValue(ctx, admissionKey{}, &admission{key: k, method: info.FullMethodName, limit: s.limit}), nil
}

// admissionStats gives back the in-flight slot of a call admitted by the
// tap when the call ends, however it ends (a stats handler sees the end
// of every call, also of one that failed before its handler ran).
type admissionStats struct{}

func (admissionStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (admissionStats) HandleRPC(ctx context.Context, st stats.RPCStats) {
	if _, end := st.(*stats.End); !end {
		return
	}
	if a, ok := ctx.Value(admissionKey{}).(*admission); ok {
		a.release.Do(func() { a.limit.release(a.method) })
	}
}

func (admissionStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (admissionStats) HandleConn(context.Context, stats.ConnStats)                       {}

// unaryInterceptor is observe as a gRPC unary interceptor.
func (s *Server) unaryInterceptor(api string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		var resp any
		err := s.observe(ctx, api, info.FullMethod, func(ctx context.Context) error {
			var err error
			resp, err = handler(ctx, req)
			return err
		})
		return resp, err
	}
}

// streamInterceptor is observe as a gRPC stream interceptor.
func (s *Server) streamInterceptor(api string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return s.observe(ss.Context(), api, info.FullMethod, func(ctx context.Context) error {
			return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
		})
	}
}

// ctxStream is a ServerStream with the observer's context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *ctxStream) Context() context.Context { return c.ctx }
