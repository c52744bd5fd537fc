package server

import (
	"context"
	"errors"
	"time"

	ragv1 "github.com/ragd/ragd/api/ragv1"
	"github.com/ragd/ragd/index"
)

// Calibrate implements ragv1.CollectionsServer.
func (sv *service) Calibrate(ctx context.Context, r *ragv1.CalibrateCollectionRequest) (*ragv1.Collection, error) {
	c, err := sv.collection("name", r.GetName())
	if err != nil {
		return nil, grpcError(err)
	}
	if err := sv.calibrate(ctx, c); err != nil {
		return nil, grpcError(err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return collectionToProto(c.Config(), st), nil
}

// calibrate chooses a collection's default fusion with its own embedder
// (index.Collection.Calibrate).
func (sv *service) calibrate(ctx context.Context, c *index.Collection) error {
	if c.Config().Dimension == 0 {
		return badField("name", "collection %q has no vectors: a search has only BM25, nothing to fuse", c.Name())
	}
	emb, err := sv.embedder(c)
	if err != nil {
		return err
	}
	if emb == nil {
		return badField("name", "collection %q has no embedder (provider none): ragd cannot embed the pseudo-queries; give fusion and alpha in each search instead", c.Name())
	}
	_, err = c.Calibrate(ctx, emb.Embed, index.CalibrationConfig{})
	return err
}

// needsCalibration reports whether the background calibrator should
// (re)calibrate a collection of docs documents: one with vectors and an
// embedder that has never been calibrated, or whose size has doubled or
// halved since.
func needsCalibration(cc index.CollectionConfig, docs int) bool {
	if cc.Dimension == 0 || cc.Embedder.Provider == "" || cc.Embedder.Provider == ProviderNone || docs < index.MinCalibrationDocs {
		return false
	}
	f := cc.Fusion
	if f == nil || f.CalibratedAt.IsZero() {
		return true
	}
	return docs >= 2*f.Documents || 2*docs <= f.Documents
}

// calibrateLoop calibrates, every interval, the collections that need it
// (needsCalibration), one at a time, until stop is closed. Failures are
// logged and tried again at the next pass.
func (s *Server) calibrateLoop(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.calibrateAll(ctx)
	}
}

// calibrateAll is one pass of calibrateLoop.
func (s *Server) calibrateAll(ctx context.Context) {
	ix := s.ix.Load()
	if ix == nil {
		return
	}
	for _, cc := range ix.Collections() {
		if ctx.Err() != nil {
			return
		}
		c, err := ix.Collection(cc.Name)
		if err != nil {
			continue
		}
		n, err := c.Count(ctx)
		if err != nil || !needsCalibration(cc, n) {
			continue
		}
		start := time.Now()
		err = s.collSv.calibrate(ctx, c)
		switch {
		case err == nil:
			s.logger.Info("collection calibrated in the background", "collection", cc.Name, "dur", time.Since(start).Round(time.Millisecond))
		case errors.Is(err, index.ErrTooFewDocuments), errors.Is(err, index.ErrClosed), ctx.Err() != nil:
		default:
			s.logger.Warn("background calibration failed; retrying at the next pass", "collection", cc.Name, "err", err)
		}
	}
}
