package simd

//go:generate go run -C asm . -group tile -pkg simd -out ../tile_amd64.s -stubs ../tile_stub_amd64.go

// tileKernel is one implementation of ScoreTile: rows stored vectors
// against a panel of lanes queries.
type tileKernel struct {
	name        string
	rows, lanes int
	score       func(panel, rows []float32, dim, stride int, alpha, beta, bound, out []float32, masks []uint32, next []float32) uint32
}

// tileGo is the portable score tile (4 rows × 16 queries).
var tileGo = tileKernel{name: "generic", rows: 4, lanes: 16, score: scoreTileGo}

// tile is chosen once in init (tile_amd64.go) and never changes.
var tile = tileGo

// TileShape returns the shape of ScoreTile on this CPU: each call scores
// rows stored vectors against a panel of lanes queries. It is 6×16 with
// AVX2, 12×32 with AVX-512 and 4×16 in the portable code, and does not
// change while the program runs.
func TileShape() (rows, lanes int) { return tile.rows, tile.lanes }

// PackPanel lays out up to lanes queries (TileShape's lanes) for
// ScoreTile: queries holds nq = len(queries)/dim vectors of dim floats back
// to back, and PackPanel sets panel[k*lanes+i] to element k of query i, and
// to 0 for the lanes i >= nq. dim must be positive, len(queries) a multiple
// of dim with nq <= lanes, and len(panel) = dim*lanes.
func PackPanel(panel, queries []float32, dim int) {
	packPanel(panel, queries, dim, tile.lanes)
}

func packPanel(panel, queries []float32, dim, lanes int) {
	if dim < 1 || len(queries)%dim != 0 || len(queries)/dim > lanes || len(panel) != dim*lanes {
		panic("simd: panel lengths do not match dim and lanes")
	}
	nq := len(queries) / dim
	if nq < lanes {
		clear(panel)
	}
	for i := range nq {
		q := queries[i*dim : (i+1)*dim]
		p := panel[i:]
		for k, x := range q {
			p[k*lanes] = x
		}
	}
}

// Tile is one call of ScoreTile: a tile of stored vectors, a panel of
// queries, and where the results go. With rows and lanes from TileShape:
type Tile struct {
	// Panel holds the queries as PackPanel lays them out: Dim*lanes floats.
	Panel []float32
	// Rows holds the tile's vectors: row r is Rows[r*Stride : r*Stride+Dim],
	// for r from 0 to rows−1, so len(Rows) >= (rows−1)*Stride+Dim.
	Rows []float32
	// Dim is the vectors' length, positive; Stride the distance between
	// rows, at least Dim.
	Dim, Stride int
	// Alpha and Beta hold one coefficient pair per row (rows each).
	Alpha, Beta []float32
	// Bound holds one bound per query lane (lanes).
	Bound []float32
	// Out receives the scores, row by row (rows*lanes).
	Out []float32
	// Masks receives one bit mask of passing lanes per row (rows).
	Masks []uint32
	// Next, optional, is memory the caller will read soon (the next tile's
	// rows): the kernel prefetches it, a few cache lines per step of its
	// loop, so that the next tile does not start with cache misses. Give
	// it on the last panel of a tile only, or the prefetched lines are
	// gone again by the time they are used.
	Next []float32
}

// ScoreTile is the micro-kernel of an exact batch search: the product of a
// tile of stored vectors and a panel of queries (PackPanel), turned into
// scores and compared with a bound per query. For each row r and each
// query lane i it computes
//
//	s = Alpha[r]·(row r · query i) + Beta[r]
//
// stores s to Out[r*lanes+i], and sets bit i of Masks[r] when s <= Bound[i]
// (clearing it otherwise, and when either is NaN). It returns the OR of the
// masks: 0 when no score passes its bound.
//
// The affine form gives a metric from the dot product: squared L2 ranks as
// |r|² − 2·r·q (Alpha −2, Beta |r|²), inner product as −r·q, cosine as
// −r·q/|r|. A NaN Beta (or Alpha) rules a row out: its scores never pass.
// The bounds of unused lanes can be NaN likewise.
//
// Each dot product is summed in element order (by FMA in the assembly), so
// a score depends only on its row, query, alpha and beta, not on the rest
// of the tile; it equals Dot's only up to rounding.
//
// The kernel reads every row of the tile: pad a short tile with rows of
// zeros (and a NaN Beta). Lengths that do not match the shape panic. For
// speed the tile's rows should stay in cache while panel after panel
// passes over them (package flat's loop order).
func ScoreTile(t *Tile) uint32 {
	checkTile(tile, t)
	return tile.score(t.Panel, t.Rows, t.Dim, t.Stride, t.Alpha, t.Beta, t.Bound, t.Out, t.Masks, t.Next)
}

func checkTile(k tileKernel, t *Tile) {
	R, L := k.rows, k.lanes
	switch {
	case t.Dim < 1 || t.Stride < t.Dim:
		panic("simd: tile dim is not positive or stride is less than dim")
	case len(t.Panel) < t.Dim*L:
		panic("simd: tile panel too short")
	case len(t.Rows) < t.Dim || t.Stride > (len(t.Rows)-t.Dim)/(R-1):
		panic("simd: tile rows too short")
	case len(t.Alpha) < R || len(t.Beta) < R || len(t.Masks) < R:
		panic("simd: tile alpha, beta or masks too short")
	case len(t.Bound) < L || len(t.Out) < R*L:
		panic("simd: tile bound or out too short")
	}
}

// scoreTileGo is the portable kernel: the loops of the assembly's
// computation, one product and one add per step (not fused).
func scoreTileGo(panel, rows []float32, dim, stride int, alpha, beta, bound, out []float32, masks []uint32, _ []float32) uint32 {
	const R, L = 4, 16
	var acc [R][L]float32
	for r := range R {
		row := rows[r*stride : r*stride+dim]
		// Sixteen sums in locals, which the compiler keeps in registers.
		var a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15 float32
		for k, x := range row {
			p := (*[L]float32)(panel[k*L : k*L+L])
			a0 += x * p[0]
			a1 += x * p[1]
			a2 += x * p[2]
			a3 += x * p[3]
			a4 += x * p[4]
			a5 += x * p[5]
			a6 += x * p[6]
			a7 += x * p[7]
			a8 += x * p[8]
			a9 += x * p[9]
			a10 += x * p[10]
			a11 += x * p[11]
			a12 += x * p[12]
			a13 += x * p[13]
			a14 += x * p[14]
			a15 += x * p[15]
		}
		acc[r] = [L]float32{a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15}
	}
	var any uint32
	for r := range R {
		var m uint32
		for i, d := range acc[r] {
			s := alpha[r]*d + beta[r]
			out[r*L+i] = s
			if s <= bound[i] {
				m |= 1 << i
			}
		}
		masks[r] = m
		any |= m
	}
	return any
}
