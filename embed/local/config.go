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
	// PackTokens is the most tokens of one forward pass: Embed packs
	// consecutive texts of a call until their tokens would pass it, and
	// runs each dense layer once over the whole pack. Default
	// DefaultPackTokens. A pack's working memory is about 22.5 KiB per
	// token (5.6 MiB at 256), held per concurrent Embed call; packing more
	// than a few hundred tokens gains nothing (see DefaultPackTokens). 1
	// embeds every text alone. Vectors do not depend on it.
	PackTokens int
}

// Defaults and limits of Config.PackTokens.
const (
	// DefaultPackTokens is the default pack, 5.6 MiB of working memory.
	// Measured in CPU time per text on AVX2 (BenchmarkEmbedBatch):
	// packing lifts short texts the most, 10-token queries 1.85× against
	// one text per pass, and 75-token passages about 7 % (the matrix
	// products already run near the kernel's peak there); 512 tokens
	// gained nothing more.
	DefaultPackTokens = 256
	// MaxPackTokens bounds the working memory of one Embed call (about
	// 90 MiB).
	MaxPackTokens = 4096
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.MaxTokens == 0 {
		c.MaxTokens = MaxSequenceLength
	}
	if c.PackTokens == 0 {
		c.PackTokens = DefaultPackTokens
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones. Errors wrap embed.ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxTokens < 1 || c.MaxTokens > MaxSequenceLength:
		return fmt.Errorf("%w: local: max tokens %d out of range [1, %d]", embed.ErrInvalidConfig, c.MaxTokens, MaxSequenceLength)
	case c.PackTokens < 1 || c.PackTokens > MaxPackTokens:
		return fmt.Errorf("%w: local: pack tokens %d out of range [1, %d]", embed.ErrInvalidConfig, c.PackTokens, MaxPackTokens)
	}
	return nil
}
