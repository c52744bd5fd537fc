package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ragd/ragd/embed"
	"github.com/ragd/ragd/index"
	"github.com/ragd/ragd/index/filter"
)

// This file is the one place that maps errors to gRPC codes (and through
// them to HTTP statuses: see httpStatus). DESIGN.md, Errors and limits.

// fieldError is a bad request that names its field, as a JSON path of the
// request ("documents[3].vector").
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// badField returns a *fieldError.
func badField(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// retryError asks the client to come back after a while: Unavailable or
// ResourceExhausted with a RetryInfo (HTTP 503 or 429 with Retry-After).
type retryError struct {
	code  codes.Code
	msg   string
	after time.Duration
}

func (e *retryError) Error() string { return e.msg }

// errLoading is returned while the index is being opened.
var errLoading = &retryError{code: codes.Unavailable, msg: "ragd is loading its index; retry shortly", after: time.Second}

// toStatus maps an error of any layer to a gRPC status. Errors that are no
// fault of the request (Internal, DataLoss) keep their text out of the
// message: the caller logs them with the request id.
func toStatus(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	if st, ok := ragStatus(err); ok {
		return st
	}
	var fe *fieldError
	var re *retryError
	var te *embed.TextError
	var pe *embed.ProviderError
	var nf *notFoundError
	switch {
	case errors.As(err, &nf):
		return status.New(codes.NotFound, nf.msg)
	case errors.As(err, &fe):
		st, _ := status.New(codes.InvalidArgument, fe.Error()).WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fe.field, Description: fe.msg}},
		})
		return st
	case errors.As(err, &re):
		st, _ := status.New(re.code, re.msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(re.after)})
		return st
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, index.ErrInvalidArgument):
		return status.New(codes.InvalidArgument, strings.TrimPrefix(err.Error(), index.ErrInvalidArgument.Error()+": "))
	case errors.Is(err, filter.ErrInvalidFilter), errors.Is(err, filter.ErrInvalidMetadata):
		return status.New(codes.InvalidArgument, err.Error())
	case errors.Is(err, index.ErrNotFound):
		return status.New(codes.NotFound, strings.TrimPrefix(err.Error(), index.ErrNotFound.Error()+": "))
	case errors.Is(err, index.ErrExists):
		return status.New(codes.AlreadyExists, strings.TrimPrefix(err.Error(), index.ErrExists.Error()+": "))
	case errors.Is(err, index.ErrTooFewDocuments):
		return status.New(codes.FailedPrecondition, err.Error()+"; add documents, then calibrate again")
	case errors.Is(err, index.ErrClosed):
		return status.New(codes.Unavailable, "the collection was dropped or the server is shutting down")
	case errors.Is(err, index.ErrCorrupt):
		return status.New(codes.DataLoss, "stored data is damaged; see the server log")
	case errors.As(err, &te):
		return status.New(codes.InvalidArgument, err.Error())
	case errors.As(err, &pe) && errors.Is(err, embed.ErrRateLimited):
		after := pe.RetryAfter
		if after <= 0 {
			after = time.Second
		}
		st, _ := status.New(codes.ResourceExhausted, "embedder: "+err.Error()).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(after)})
		return st
	case errors.Is(err, embed.ErrInvalidConfig):
		return status.New(codes.InvalidArgument, "embedder: "+err.Error())
	case errors.Is(err, embed.ErrBadRequest):
		return status.New(codes.InvalidArgument, "the embedding provider rejected the input: "+err.Error())
	case errors.Is(err, embed.ErrRateLimited), errors.Is(err, embed.ErrUnavailable), errors.Is(err, embed.ErrClosed),
		errors.Is(err, embed.ErrUnauthorized), errors.Is(err, embed.ErrModelNotFound), errors.Is(err, embed.ErrBadResponse):
		return status.New(codes.Unavailable, "embedder: "+err.Error())
	}
	return status.New(codes.Internal, "internal error; see the server log")
}

// grpcError is toStatus as an error, for the service methods.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	st := toStatus(err)
	switch st.Code() {
	case codes.Internal, codes.DataLoss, codes.Unknown:
		return &internalError{st: st, cause: err}
	}
	return st.Err()
}

// retryAfter returns the RetryInfo delay of a status, 0 if none.
func retryAfter(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}
