package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// tileLens are the vector lengths the score tiles are checked at: every
// unrolled-loop remainder, lengths around 128 and 384, and embedding sizes.
func tileLens() []int {
	var ls []int
	for n := 1; n <= 65; n++ {
		ls = append(ls, n)
	}
	return append(ls, 127, 128, 129, 383, 384, 385, 768, 784, 1536)
}

// tileCase is one call of a score tile with its inputs.
type tileCase struct {
	k                  tileKernel
	dim, stride, nq    int
	panel, rows        []float32
	queries            []float32 // nq back to back
	alpha, beta, bound []float32
	out                []float32
	masks              []uint32
	next               []float32 // prefetched only
}

// newTileCase draws a tile of k's shape: rows of dim floats stride apart
// starting off floats into their slice, nq queries packed into a panel,
// random alpha and beta, and bounds around the median score so that about
// half the scores pass.
func newTileCase(r *rand.Rand, k tileKernel, dim, stride, nq, off int) *tileCase {
	c := &tileCase{k: k, dim: dim, stride: stride, nq: nq}
	c.rows = randFloats(r, (k.rows-1)*stride+dim, off)
	c.queries = randFloats(r, nq*dim, (off+1)%4)
	c.panel = randFloats(r, dim*k.lanes, (off+2)%4) // garbage that packing must clear
	packPanel(c.panel, c.queries, dim, k.lanes)
	c.alpha, c.beta = make([]float32, k.rows), make([]float32, k.rows)
	for i := range k.rows {
		c.alpha[i], c.beta[i] = r.Float32()*4-2, r.Float32()*2-1
	}
	c.bound = make([]float32, k.lanes)
	for i := range c.bound {
		c.bound[i] = r.Float32()*0.5 - 0.25
	}
	c.out = make([]float32, k.rows*k.lanes)
	c.masks = make([]uint32, k.rows)
	for i := range c.masks {
		c.masks[i] = 0xdeadbeef
	}
	return c
}

func (c *tileCase) run() uint32 {
	return c.k.score(c.panel, c.rows, c.dim, c.stride, c.alpha, c.beta, c.bound, c.out, c.masks, c.next)
}

// row and query return vector r of the tile and query i (zero beyond nq).
func (c *tileCase) row(r int) []float32 { return c.rows[r*c.stride : r*c.stride+c.dim] }
func (c *tileCase) query(i int) []float32 {
	if i >= c.nq {
		return make([]float32, c.dim)
	}
	return c.queries[i*c.dim : (i+1)*c.dim]
}

// check compares every score with the reference and every mask bit with
// the stored score, and the returned value with the masks.
func (c *tileCase) check(t testing.TB, got uint32, msg string) {
	t.Helper()
	var any uint32
	for r := range c.k.rows {
		for i := range c.k.lanes {
			q, row := c.query(i), c.row(r)
			want := c.alpha[r]*dotGeneric(q, row) + c.beta[r]
			s := c.out[r*c.k.lanes+i]
			m := fmt.Sprintf("%s row %d lane %d", msg, r, i)
			scale := math.Abs(float64(c.alpha[r]))*absDot(q, row) + math.Abs(float64(c.beta[r]))
			requireClose(t, want, s, 2e-6, scale, m)
			require.Equalf(t, s <= c.bound[i], c.masks[r]&(1<<i) != 0, "%s: mask bit (score %v, bound %v)", m, s, c.bound[i])
		}
		if c.k.lanes < 32 {
			require.Zerof(t, c.masks[r]>>c.k.lanes, "%s row %d: mask bits above the lanes", msg, r)
		}
		any |= c.masks[r]
	}
	require.Equalf(t, any, got, "%s: returned mask", msg)
}

func TestScoreTile(t *testing.T) {
	for _, k := range tileKernels() {
		t.Run(k.name, func(t *testing.T) {
			r := newRand(30)
			for _, dim := range tileLens() {
				nqs := []int{1, k.lanes/2 + 1, k.lanes}
				if dim > 129 {
					nqs = []int{k.lanes}
				}
				for j, nq := range nqs {
					stride := dim + (dim+j)%3*5 // dim, dim+5 or dim+10
					c := newTileCase(r, k, dim, stride, nq, (dim+j)%4)
					// Something to prefetch, or nothing: 0 to 2 tiles of floats.
					c.next = make([]float32, (dim*j*k.rows)%(2*k.rows*dim+1))
					c.check(t, c.run(), fmt.Sprintf("dim=%d stride=%d nq=%d next=%d", dim, stride, nq, len(c.next)))
				}
			}
		})
	}
}

// TestScoreTilePosition checks that a score depends only on its row and
// query: moving both to other places in the tile gives the same bits.
func TestScoreTilePosition(t *testing.T) {
	for _, k := range tileKernels() {
		t.Run(k.name, func(t *testing.T) {
			r := newRand(31)
			for _, dim := range []int{1, 5, 17, 100, 784} {
				c := newTileCase(r, k, dim, dim, k.lanes, 0)
				c.run()
				// Reverse the rows and the queries.
				d := *c
				d.rows = make([]float32, len(c.rows))
				for i := range k.rows {
					copy(d.rows[i*dim:], c.row(k.rows-1-i))
				}
				d.queries = make([]float32, len(c.queries))
				for i := range k.lanes {
					copy(d.queries[i*dim:], c.query(k.lanes-1-i))
				}
				d.panel = make([]float32, len(c.panel))
				packPanel(d.panel, d.queries, dim, k.lanes)
				d.alpha, d.beta = make([]float32, k.rows), make([]float32, k.rows)
				for i := range k.rows {
					d.alpha[i], d.beta[i] = c.alpha[k.rows-1-i], c.beta[k.rows-1-i]
				}
				d.out = make([]float32, len(c.out))
				d.masks = make([]uint32, k.rows)
				d.run()
				for i := range k.rows {
					for j := range k.lanes {
						requireBitEqual(t, c.out[i*k.lanes+j], d.out[(k.rows-1-i)*k.lanes+k.lanes-1-j], fmt.Sprintf("dim=%d row %d lane %d", dim, i, j))
					}
				}
			}
		})
	}
}

// TestScoreTileBounds checks the mask rules: NaN bounds and NaN betas never
// pass, +Inf bounds pass every finite score, equality passes.
func TestScoreTileBounds(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, k := range tileKernels() {
		t.Run(k.name, func(t *testing.T) {
			r := newRand(32)
			c := newTileCase(r, k, 33, 40, k.lanes-1, 1)
			for i := range c.bound {
				switch i % 3 {
				case 0:
					c.bound[i] = nan
				case 1:
					c.bound[i] = inf
				}
			}
			c.beta[1] = nan
			got := c.run()
			c.check(t, got, "special bounds")
			for i := range k.lanes {
				require.Zero(t, c.masks[1]&(1<<i), "NaN beta passed")
				if i%3 == 0 {
					for row := range k.rows {
						require.Zero(t, c.masks[row]&(1<<i), "NaN bound passed")
					}
				}
				if i%3 == 1 {
					require.NotZero(t, c.masks[0]&(1<<i), "+Inf bound did not pass")
				}
			}
			// A bound equal to the score passes.
			copy(c.bound, c.out[2*k.lanes:3*k.lanes])
			c.run()
			require.Equal(t, uint32(1)<<k.lanes-1, c.masks[2], "equal bounds")
			// Nothing passes: zero is returned.
			for i := range c.bound {
				c.bound[i] = float32(math.Inf(-1))
			}
			require.Zero(t, c.run())
		})
	}
}

func TestScoreTileSpecialValues(t *testing.T) {
	for _, k := range tileKernels() {
		t.Run(k.name, func(t *testing.T) {
			r := newRand(33)
			for _, dim := range []int{1, 7, 16, 17, 129} {
				for _, v := range specials {
					c := newTileCase(r, k, dim, dim, k.lanes, 0)
					c.rows[2*dim+dim/2] = v      // row 2
					c.queries[3*dim+(dim-1)] = v // query 3
					c.queries[5*dim] = 1 / v     // query 5: ∓0 or ±Inf
					packPanel(c.panel, c.queries, dim, k.lanes)
					c.run()
					for row := range k.rows {
						for i := range k.lanes {
							want := c.alpha[row]*dotGeneric(c.query(i), c.row(row)) + c.beta[row]
							requireSameClass(t, want, c.out[row*k.lanes+i], fmt.Sprintf("dim=%d v=%v row %d lane %d", dim, v, row, i))
						}
					}
				}
			}
		})
	}
}

func TestScoreTileExported(t *testing.T) {
	R, L := TileShape()
	require.Equal(t, tile.rows, R)
	require.Equal(t, tile.lanes, L)
	r := newRand(34)
	dim := 9
	qs := randFloats(r, 3*dim, 0)
	panel := make([]float32, dim*L)
	PackPanel(panel, qs, dim)
	rows := randFloats(r, R*dim, 1)
	alpha, beta := make([]float32, R), make([]float32, R)
	for i := range alpha {
		alpha[i] = 1
	}
	bound := make([]float32, L)
	for i := range bound {
		bound[i] = float32(math.Inf(1))
	}
	out, masks := make([]float32, R*L), make([]uint32, R)
	tl := &Tile{Panel: panel, Rows: rows, Dim: dim, Stride: dim, Alpha: alpha, Beta: beta, Bound: bound, Out: out, Masks: masks, Next: rows}
	got := ScoreTile(tl)
	require.Equal(t, uint32(1)<<L-1, got)
	for i := range R {
		for j := range 3 {
			require.InDelta(t, Dot(qs[j*dim:(j+1)*dim], rows[i*dim:(i+1)*dim]), out[i*L+j], 1e-5)
		}
		require.Zero(t, out[i*L+3], "padding lane")
	}

	bad := func(f func(t *Tile)) func() {
		return func() {
			c := *tl
			f(&c)
			ScoreTile(&c)
		}
	}
	for name, f := range map[string]func(){
		"zero dim":       bad(func(t *Tile) { t.Dim, t.Stride = 0, 0 }),
		"stride < dim":   bad(func(t *Tile) { t.Stride = dim - 1 }),
		"short panel":    bad(func(t *Tile) { t.Panel = panel[1:] }),
		"short rows":     bad(func(t *Tile) { t.Rows = rows[1:] }),
		"long stride":    bad(func(t *Tile) { t.Stride = dim + 1 }),
		"short alpha":    bad(func(t *Tile) { t.Alpha = alpha[1:] }),
		"short beta":     bad(func(t *Tile) { t.Beta = beta[1:] }),
		"short bound":    bad(func(t *Tile) { t.Bound = bound[1:] }),
		"short out":      bad(func(t *Tile) { t.Out = out[1:] }),
		"short masks":    bad(func(t *Tile) { t.Masks = masks[1:] }),
		"pack too many":  func() { PackPanel(panel, randFloats(r, (L+1)*dim, 0), dim) },
		"pack not whole": func() { PackPanel(panel, qs[1:], dim) },
		"pack bad panel": func() { PackPanel(panel[1:], qs, dim) },
	} {
		t.Run(name, func(t *testing.T) { require.Panics(t, f) })
	}
}

// FuzzScoreTile takes the tile's rows and queries from the fuzz input and
// checks every score tile against the reference.
func FuzzScoreTile(f *testing.F) {
	fuzzSeeds(f)
	f.Add(append([]byte{17, 3}, make([]byte, 1+4*17*40)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		dim, pad := int(data[0]%70)+1, int(data[1]%5)
		a, b := fuzzFloats(data[2:])
		vals := append(a, b...)
		if len(vals) == 0 {
			return
		}
		for _, k := range tileKernels() {
			stride := dim + pad
			c := &tileCase{k: k, dim: dim, stride: stride, nq: min(k.lanes, len(vals)/dim)}
			c.rows = make([]float32, (k.rows-1)*stride+dim)
			for i := range c.rows {
				c.rows[i] = vals[i%len(vals)]
			}
			c.queries = make([]float32, c.nq*dim)
			for i := range c.queries {
				c.queries[i] = vals[(i*7+3)%len(vals)]
			}
			c.panel = make([]float32, dim*k.lanes)
			packPanel(c.panel, c.queries, dim, k.lanes)
			c.alpha, c.beta = make([]float32, k.rows), make([]float32, k.rows)
			for i := range k.rows {
				c.alpha[i], c.beta[i] = 1, vals[(i*13)%len(vals)]
			}
			c.bound = make([]float32, k.lanes)
			for i := range c.bound {
				c.bound[i] = vals[(i*5+1)%len(vals)]
			}
			c.out, c.masks = make([]float32, k.rows*k.lanes), make([]uint32, k.rows)
			got := c.run()
			var any uint32
			for r := range k.rows {
				for i := range k.lanes {
					q, row := c.query(i), c.row(r)
					want := dotGeneric(q, row) + c.beta[r]
					s := c.out[r*k.lanes+i]
					requireClose(t, want, s, fuzzRel(dim), absDot(q, row)+math.Abs(float64(c.beta[r])), k.name+" scoreTile")
					require.Equal(t, s <= c.bound[i], c.masks[r]&(1<<i) != 0, k.name+" mask")
				}
				any |= c.masks[r]
			}
			require.Equal(t, any, got)
		}
	})
}

// BenchmarkScoreTile runs the kernel as package flat does: tiles of rows
// walking through a slab of 16 MiB (past the L2 cache), each meeting
// tilePanels panels of queries (in L2), with the next tile's rows
// prefetched during the last panel.
func BenchmarkScoreTile(b *testing.B) {
	const tilePanels = 8
	for _, k := range tileKernels() {
		b.Run(k.name, func(b *testing.B) {
			for _, dim := range []int{128, 784, 1536} {
				b.Run(fmt.Sprint(dim), func(b *testing.B) {
					r := newRand(uint64(dim))
					L, R := k.lanes, k.rows
					panels := alignedFloats(r, tilePanels*dim*L, 0)
					tiles := (16 << 20) / (4 * R * dim)
					slab := alignedFloats(r, tiles*R*dim, 0)
					alpha, beta := make([]float32, R), make([]float32, R)
					bound := make([]float32, L)
					for i := range bound {
						bound[i] = -1e30
					}
					out, masks := make([]float32, R*L), make([]uint32, R)
					b.ReportAllocs()
					t := 0
					for b.Loop() {
						rows := slab[t*R*dim : (t+1)*R*dim]
						t = (t + 1) % tiles
						next := slab[t*R*dim : (t+1)*R*dim]
						for p := range tilePanels {
							var pf []float32
							if p == tilePanels-1 {
								pf = next
							}
							k.score(panels[p*dim*L:(p+1)*dim*L], rows, dim, dim, alpha, beta, bound, out, masks, pf)
						}
					}
					report(b, 2*float64(dim*R*tilePanels*L))
				})
			}
		})
	}
}
