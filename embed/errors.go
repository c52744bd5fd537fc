package embed

import "errors"

var (
	// ErrEmptyText is returned for a text with no features: empty, or made
	// only of characters that are neither letters, marks nor digits
	// (blanks, punctuation, symbols). Its vector would be all zeros, which
	// has no direction and which a cosine index rejects. The error names
	// the index of the text in the batch.
	ErrEmptyText = errors.New("embed: text has no features")
	// ErrInvalidConfig is wrapped by the Validate methods' errors.
	ErrInvalidConfig = errors.New("embed: invalid config")
)
