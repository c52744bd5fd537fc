package embed

import "context"

// Embedder turns texts into vectors.
//
// Implementations are safe for concurrent use.
type Embedder interface {
	// Embed returns one vector of length Dimension() per text, in the
	// order of texts. It fails as a whole: on error no vectors are
	// returned. When ctx is cancelled it stops working and returns an error
	// that matches ctx.Err() under errors.Is.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dimension is the length of every vector Embed returns.
	Dimension() int
	// Model names the model, so that a collection can record which one
	// made its vectors and refuse to mix vectors from another.
	Model() string
}
