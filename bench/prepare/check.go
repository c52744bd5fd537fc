package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ragd/ragd/internal/texmex"
)

// checkReport is the outcome of checking one data set.
type checkReport struct {
	text   string // human-readable summary, one indented line per finding
	failed bool   // a real mismatch: the exit status must be non-zero
}

// checkDataset checks the files of ds in cfg.out against the sums recorded
// in SOURCE.md and, if the -check folder has it, against the reference copy:
// files that must be byte-identical, and the reference ground truth, where
// every difference must be explained by ties. It returns an error only if it
// could not run; findings go into the report.
func checkDataset(cfg *config, ds *dataset) (*checkReport, error) {
	var b strings.Builder
	rep := &checkReport{}
	fail := func(format string, args ...any) {
		rep.failed = true
		fmt.Fprintf(&b, "  FAIL: "+format+"\n", args...)
	}
	note := func(format string, args ...any) { fmt.Fprintf(&b, "  "+format+"\n", args...) }

	for _, suffix := range slices.Sorted(maps.Keys(ds.ref.sha256)) {
		if err := verifySHA256(ds.path(cfg.out, suffix), ds.ref.sha256[suffix]); err != nil {
			fail("%v", err)
		} else {
			note("%s: sha256 matches SOURCE.md", ds.prefix+suffix)
		}
	}

	refDir := filepath.Join(cfg.check, ds.ref.dir)
	if cfg.check == "" {
		note("reference check skipped (-check none)")
		return finish(rep, &b), nil
	}
	if _, err := os.Stat(refDir); err != nil {
		note("reference check skipped: %v", err)
		return finish(rep, &b), nil
	}

	for _, suffix := range slices.Sorted(maps.Keys(ds.ref.identical)) {
		ours, theirs := ds.path(cfg.out, suffix), filepath.Join(refDir, ds.ref.identical[suffix])
		same, err := sameBytes(ours, theirs)
		switch {
		case errors.Is(err, os.ErrNotExist):
			note("%s: skipped: %v", ds.prefix+suffix, err)
		case err != nil:
			return nil, err
		case same:
			note("%s: byte-identical to %s", ds.prefix+suffix, theirs)
		default:
			fail("%s differs from %s", ours, theirs)
		}
	}

	refIDs := filepath.Join(refDir, ds.ref.prefix+gtIDsFile)
	refDists := filepath.Join(refDir, ds.ref.prefix+gtDistFile)
	in, err := loadComparison(cfg.out, ds, refIDs, refDists)
	if errors.Is(err, os.ErrNotExist) {
		note("ground truth check skipped: %v", err)
		return finish(rep, &b), nil
	}
	if err != nil {
		return nil, err
	}
	c := compareGT(in)
	note("ground truth vs %s (first %d of %d queries, k=%d):", refIDs, c.queries, ds.nQuery, gtK)
	note("  identical id lists: %d/%d", c.identical, c.queries)
	note("  differing only by exact ties: %d, by near-ties: %d (largest gap %.3g, %.3g relative; tolerance %s)",
		c.exactTies, c.nearTies, c.maxGap, c.maxGapRel, describeTol(in))
	note("  recall@10 vs reference: mean %.6f, min %.2f; recall@100: mean %.6f", c.recall10, c.minRecall10, c.recall100)
	note("  stored distances: largest difference %.3g (%.3g relative)", c.maxDistDiff, c.maxDistDiffRel)
	if c.mismatches > 0 {
		fail("%d queries differ from the reference beyond ties; first: %s", c.mismatches, c.firstMismatch)
	}
	return finish(rep, &b), nil
}

func finish(rep *checkReport, b *strings.Builder) *checkReport {
	if rep.failed {
		b.WriteString("  => FAILED\n")
	} else {
		b.WriteString("  => ok\n")
	}
	rep.text = b.String()
	return rep
}

// cmpInput is what compareGT needs: both ground truths for the same queries
// and a way to compute exact distances.
type cmpInput struct {
	k                    int
	nBase                int
	ours, theirs         []int32   // k ids per query
	oursDist, theirsDist []float32 // k distances per query
	exact                func(q int, id int32) float64
	tolAbs, tolRel       float64 // near-tie tolerance: tolAbs + tolRel·distance
}

// tol is how far apart two distances may be and still count as a near-tie.
func (in *cmpInput) tol(d float64) float64 { return in.tolAbs + in.tolRel*math.Abs(d) }

func describeTol(in *cmpInput) string {
	switch {
	case in.tolAbs == 0:
		return fmt.Sprintf("%.3g relative", in.tolRel)
	case in.tolRel == 0:
		return fmt.Sprintf("%.3g absolute", in.tolAbs)
	}
	return fmt.Sprintf("%.3g + %.3g relative", in.tolAbs, in.tolRel)
}

// gtComparison summarises compareGT.
type gtComparison struct {
	queries       int
	identical     int // same ids in the same order
	exactTies     int // different ids or order, at exactly equal distances
	nearTies      int // different, at distances within the tolerance
	mismatches    int // anything else: a real difference
	firstMismatch string

	recall10, recall100 float64 // mean overlap of the first 10 and 100 ids
	minRecall10         float64
	maxGap, maxGapRel   float64 // largest distance gap at one position, over tie queries
	maxDistDiff         float64 // largest difference between the stored distances
	maxDistDiffRel      float64
}

// compareGT compares our ground truth with the reference's, query by query.
// Two id lists are equivalent if, position by position, the exact distance
// of their id equals that of ours up to the tolerance: then they differ only
// in how rows at (nearly) the same distance are ordered or cut at k, which
// is what float32 arithmetic in the reference tool does to near-ties. The
// stored distances must agree within twice the tolerance.
func compareGT(in *cmpInput) gtComparison {
	k := in.k
	nq := len(in.theirs) / k
	c := gtComparison{queries: nq, minRecall10: 1}
	mismatch := func(q int, format string, args ...any) {
		if c.mismatches == 0 {
			c.firstMismatch = fmt.Sprintf("query %d: ", q) + fmt.Sprintf(format, args...)
		}
		c.mismatches++
	}
	for q := range nq {
		ours, theirs := in.ours[q*k:(q+1)*k], in.theirs[q*k:(q+1)*k]
		r10 := overlap(ours[:min(10, k)], theirs[:min(10, k)])
		c.recall10 += r10
		c.recall100 += overlap(ours, theirs)
		c.minRecall10 = min(c.minRecall10, r10)

		distOK := true
		for i := range k {
			o, t := float64(in.oursDist[q*k+i]), float64(in.theirsDist[q*k+i])
			diff := math.Abs(o - t)
			c.maxDistDiff = max(c.maxDistDiff, diff)
			c.maxDistDiffRel = max(c.maxDistDiffRel, diff/math.Max(math.Abs(o), 1e-30))
			if distOK && diff > 2*in.tol(o) {
				distOK = false
				mismatch(q, "position %d: stored distance %g, reference %g", i, o, t)
			}
		}
		if !distOK {
			continue
		}
		if slices.Equal(ours, theirs) {
			c.identical++
			continue
		}
		if bad := invalidIDs(theirs, in.nBase); bad != "" {
			mismatch(q, "reference list %s", bad)
			continue
		}

		exact, equivalent := true, true
		var gap, gapRel float64
		for i := range k {
			dO, dT := in.exact(q, ours[i]), in.exact(q, theirs[i])
			g := math.Abs(dO - dT)
			if g == 0 {
				continue
			}
			exact = false
			if g > in.tol(dO) {
				equivalent = false
				mismatch(q, "position %d: reference id %d at distance %.9g, ours id %d at %.9g", i, theirs[i], dT, ours[i], dO)
				break
			}
			gap, gapRel = max(gap, g), max(gapRel, g/math.Max(math.Abs(dO), 1e-30))
		}
		switch {
		case !equivalent:
		case exact:
			c.exactTies++
		default:
			c.nearTies++
			c.maxGap, c.maxGapRel = max(c.maxGap, gap), max(c.maxGapRel, gapRel)
		}
	}
	if nq > 0 {
		c.recall10 /= float64(nq)
		c.recall100 /= float64(nq)
	}
	return c
}

// overlap returns the fraction of a's ids that are also in b.
func overlap(a, b []int32) float64 {
	n := 0
	for _, id := range a {
		if slices.Contains(b, id) {
			n++
		}
	}
	return float64(n) / float64(len(a))
}

// invalidIDs describes what is wrong with an id list (out of range or
// repeated ids), or returns "".
func invalidIDs(ids []int32, nBase int) string {
	seen := make(map[int32]bool, len(ids))
	for i, id := range ids {
		if id < 0 || int(id) >= nBase {
			return fmt.Sprintf("has id %d out of range at position %d", id, i)
		}
		if seen[id] {
			return fmt.Sprintf("repeats id %d at position %d", id, i)
		}
		seen[id] = true
	}
	return ""
}

// loadComparison reads our files and the reference ground truth for the
// first queries the reference covers.
func loadComparison(out string, ds *dataset, refIDs, refDists string) (*cmpInput, error) {
	theirs, dim, n, err := texmex.ReadIvecs(refIDs, 0)
	if err != nil {
		return nil, err
	}
	theirsDist, dimD, nD, err := texmex.ReadFvecs(refDists, 0)
	if err != nil {
		return nil, err
	}
	if dim != gtK || dimD != gtK || n != ds.ref.nQueries || nD != n {
		return nil, fmt.Errorf("reference ground truth has %d×%d ids and %d×%d distances, want %d×%d",
			n, dim, nD, dimD, ds.ref.nQueries, gtK)
	}
	ours, _, _, err := texmex.ReadIvecs(ds.path(out, gtIDsFile), n)
	if err != nil {
		return nil, err
	}
	oursDist, _, _, err := texmex.ReadFvecs(ds.path(out, gtDistFile), n)
	if err != nil {
		return nil, err
	}
	base, _, _, err := texmex.ReadFvecs(ds.path(out, baseFile), 0)
	if err != nil {
		return nil, err
	}
	queries, _, _, err := texmex.ReadFvecs(ds.path(out, queryFile), n)
	if err != nil {
		return nil, err
	}
	if ds.metric == angular {
		base, queries = normalized(base, ds.dim), normalized(queries, ds.dim)
	}

	in := &cmpInput{
		k: gtK, nBase: len(base) / ds.dim,
		ours: ours, theirs: theirs, oursDist: oursDist, theirsDist: theirsDist,
		exact: func(q int, id int32) float64 {
			key := exactKey(ds.metric, queries[q*ds.dim:(q+1)*ds.dim], base[int(id)*ds.dim:(int(id)+1)*ds.dim])
			return distance(ds.metric, key)
		},
	}
	// The reference (gtgen) ranks by float32 sums of dim terms. Its key is
	// off by at most γ = (dim+2)·2^-24 relative (L2: squares are
	// non-negative) or absolute (angular: unit vectors), so it can swap rows
	// whose distances are up to about twice that apart; for L2 the square
	// root halves the relative error.
	gamma := float64(ds.dim+2) * ulp32
	if ds.metric == angular {
		in.tolAbs = 2 * gamma
	} else {
		in.tolRel = gamma
	}
	return in, nil
}

// sameBytes reports whether two files have the same contents.
func sameBytes(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}
