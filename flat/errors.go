package flat

import "errors"

// Sentinel errors. Callers test them with errors.Is; the errors returned
// wrap them with the detail (which field, which value).
var (
	// ErrInvalidConfig is wrapped by Config.Validate's and
	// IndexConfig.Validate's errors.
	ErrInvalidConfig = errors.New("flat: invalid config")
	// ErrDimensionMismatch is returned when queries or added vectors are not
	// a whole number of vectors of the dimension searched.
	ErrDimensionMismatch = errors.New("flat: dimension mismatch")
	// ErrInvalidArgument is returned for a bad request: k < 1, an unknown
	// metric, a Vectors view whose chunks do not hold its rows, or norms of
	// the wrong length.
	ErrInvalidArgument = errors.New("flat: invalid argument")
	// ErrInvalidVector is returned by Index.Add for a vector holding NaN or
	// ±Inf, or a zero vector under the cosine metric.
	ErrInvalidVector = errors.New("flat: invalid vector")
	// ErrNotFound is returned by Index.Delete for an id that was never added
	// or is already deleted.
	ErrNotFound = errors.New("flat: id not found")
	// ErrFull is returned by Index.Add when the ids would pass 2^32.
	ErrFull = errors.New("flat: index is full")
)
