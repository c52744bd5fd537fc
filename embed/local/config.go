package local

import (
	"fmt"

	"github.com/ragd/ragd/embed"
)

// MaxSequenceLength is the most tokens the model reads of one text: the
// TF.js graph drops every token at position 128 or later
// (ClipToMaxLength), and so does Model. Config.MaxTokens may lower it.
const MaxSequenceLength = 128

// Config configures New.
type Config struct {
	// MaxTokens is how many tokens of a text the model reads, 1 to
	// MaxSequenceLength; the rest is dropped. Default MaxSequenceLength,
	// the published model's own limit, which gives the same vectors as
	// TF.js for every text. Attention costs grow with its square, so a
	// lower value bounds the time of long texts — but then a text longer
	// than MaxTokens gets another vector than under the default, and
	// Model() says so.
	MaxTokens int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.MaxTokens == 0 {
		c.MaxTokens = MaxSequenceLength
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones. Errors wrap embed.ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.MaxTokens < 1 || c.MaxTokens > MaxSequenceLength {
		return fmt.Errorf("%w: local: max tokens %d out of range [1, %d]", embed.ErrInvalidConfig, c.MaxTokens, MaxSequenceLength)
	}
	return nil
}
