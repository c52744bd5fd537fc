package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ragctl's exit codes.
const (
	exitOK      = 0
	exitPartial = 1 // some inputs failed, the rest was done
	exitUsage   = 2 // bad flags or arguments
	exitFailure = 3 // the server or the file system failed the command
)

// exitError carries an exit code with its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func ioErrorf(format string, args ...any) error {
	return &exitError{code: exitFailure, err: fmt.Errorf(format, args...)}
}

// partialErrorf reports a command that did part of its work.
func partialErrorf(format string, args ...any) error {
	return &exitError{code: exitPartial, err: fmt.Errorf(format, args...)}
}

// exitCode is the process's exit status for a command's error.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

// describe turns an error from a ragd call into a message: the server's
// own message (gRPC statuses and REST errors carry one) and, for the
// usual causes, what to do.
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unauthenticated:
		return msg + " (set " + apiKeyEnv + " to a key of the server)"
	case codes.PermissionDenied:
		return msg + " (use a key with a higher role)"
	case codes.Unavailable:
		if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") {
			return msg + " (is ragd running? check --server)"
		}
		return msg + " (retry later)"
	case codes.ResourceExhausted:
		return msg + " (retry later, or send smaller batches)"
	case codes.DeadlineExceeded:
		return msg + " (raise --timeout)"
	}
	return msg
}

// callError wraps a failed ragd call: what was being done, the server's
// message and hint; exit code 3.
func callError(what string, err error) error {
	return &exitError{code: exitFailure, err: fmt.Errorf("%s: %s", what, describe(err))}
}

// isCode reports whether err is a gRPC status with code c.
func isCode(err error, c codes.Code) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == c
}

func isNotFound(err error) bool      { return isCode(err, codes.NotFound) }
func isAlreadyExists(err error) bool { return isCode(err, codes.AlreadyExists) }

// retryAfterOf is the wait a status's RetryInfo asks for, 0 if none.
func retryAfterOf(err error) time.Duration {
	st, ok := status.FromError(err)
	if !ok {
		return 0
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}
