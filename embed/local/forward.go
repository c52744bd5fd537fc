package local

import (
	"math"

	"github.com/ragd/ragd/simd"
)

// workspace is the reusable working memory of forward passes. A pass runs
// a pack of texts: their tokens side by side in one matrix, so that each
// dense layer is one matrix product over every token of the pack, while
// attention runs text by text. Buffers grow to the largest pack (and the
// longest text) seen and are reused after that.
type workspace struct {
	ids  []int32 // the token ids of the pack being gathered, text after text
	ends []int   // ends[i]: one past text i's last token in ids

	// n × width activations of the pack's n tokens.
	x   []float32 // the residual stream, n × hidden (n × embedWidth at the input)
	res []float32 // layer 0's projected residual, n × hidden
	h   []float32 // layer-normalised input of a sub-layer, n × hidden
	qkv []float32 // n × 3·width
	ctx []float32 // attention output before the output transform, n × width
	ffn []float32 // n × ffnWidth
	tmp []float32 // n × hidden

	// One text's attention, at most maxLen tokens.
	q  []float32 // scaled queries by head: heads × len × headWidth
	k  []float32 // keys by head: heads × len × headWidth
	vt []float32 // values by head, transposed: heads × headWidth × len
	p  []float32 // one head's attention weights, len × len

	pool []float32 // the pack's mean-pooled texts, texts × hidden
}

// size makes room for a pack of n tokens in texts texts, the longest of
// long tokens.
func (ws *workspace) size(n, texts, long int) {
	ws.x = resize(ws.x, n*hidden)
	ws.res = resize(ws.res, n*hidden)
	ws.h = resize(ws.h, n*hidden)
	ws.qkv = resize(ws.qkv, n*3*hidden)
	ws.ctx = resize(ws.ctx, n*hidden)
	ws.ffn = resize(ws.ffn, n*ffnWidth)
	ws.tmp = resize(ws.tmp, n*hidden)
	ws.q = resize(ws.q, long*hidden)
	ws.k = resize(ws.k, long*hidden)
	ws.vt = resize(ws.vt, long*hidden)
	ws.p = resize(ws.p, long*long)
	ws.pool = resize(ws.pool, texts*hidden)
}

// resize returns b with length n, reallocating only to grow. The contents
// are not cleared: every buffer is fully written before it is read.
func resize(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// forwardOne is forward for one text.
func (w *weights) forwardOne(ws *workspace, ids []int32, out []float32) {
	w.forward(ws, ids, []int{len(ids)}, out)
}

// forward writes the unit vectors of a pack of texts into out, one row of
// Dimension floats per text. The texts' token ids (1 to maxLen each) lie
// side by side in ids, text i ending at ends[i]. For each text it computes
// what the TF.js graph computes for one sentence:
//
//	x   = 2·embedding[ids] + timing          (the graph adds the embeddings twice)
//	layer 0: x = W_r·x + b_r + Attention(LN(x)); x = x + FFN(LN(x))
//	layer 1: x = x + Attention(LN(x));           x = x + FFN(LN(x))
//	v   = tanh(W_p · mean_t(x) + b_p)
//	out = v / sqrt(max(|v|², ε))
//
// Attention is 4-head scaled dot-product self-attention over the text's
// own tokens (no padding, no mask: each text's block of the pack is
// computed apart), FFN is ReLU(x·W1+b1)·W2+b2, LN is layer normalisation
// with ε added to the variance.
//
// Every step but attention works token by token (a row of the pack), and
// simd.DotBlockBatch gives each (token, weight row) product the same bits
// whatever else is in the call; attention and pooling see one text at a
// time. So a text's vector is bit for bit the same whether it is embedded
// alone or packed with others.
func (w *weights) forward(ws *workspace, ids []int32, ends []int, out []float32) {
	n := len(ids)
	long, start := 0, 0
	for _, e := range ends {
		long, start = max(long, e-start), e
	}
	ws.size(n, len(ends), long)

	x := ws.x[:n*embedWidth]
	start = 0
	for _, end := range ends {
		for t := start; t < end; t++ {
			id := int(ids[t])
			e := w.embedding[id*embedWidth : (id+1)*embedWidth]
			s := w.timing[(t-start)*embedWidth : (t-start+1)*embedWidth]
			row := x[t*embedWidth : (t+1)*embedWidth]
			for i := range row {
				row[i] = (e[i] + e[i]) + s[i]
			}
		}
		start = end
	}

	for i := range w.layers {
		l := &w.layers[i]
		in := embedWidth
		if i > 0 {
			in = hidden
		}
		x := ws.x[:n*in]
		h := ws.h[:n*in]
		layerNorm(h, x, in, l.attnNormScale, l.attnNorm, w.normEps)
		qkv := ws.qkv[:n*3*l.width]
		l.qkv.apply(h, n, qkv)
		start := 0
		for _, end := range ends {
			w.attention(ws, l, qkv[start*3*l.width:end*3*l.width], ws.ctx[start*l.width:end*l.width], end-start)
			start = end
		}
		attn := ws.tmp[:n*hidden]
		l.out.apply(ws.ctx[:n*l.width], n, attn)
		if l.residual != nil {
			l.residual.apply(x, n, ws.res[:n*hidden])
			copy(ws.x[:n*hidden], ws.res[:n*hidden])
		}
		x = ws.x[:n*hidden]
		add(x, attn)

		h = ws.h[:n*hidden]
		layerNorm(h, x, hidden, l.ffnNormScale, l.ffnNorm, w.normEps)
		f := ws.ffn[:n*ffnWidth]
		l.ffn1.apply(h, n, f)
		for j, v := range f {
			f[j] = max(v, 0)
		}
		l.ffn2.apply(f, n, attn)
		add(x, attn)
	}

	// Mean over each text's tokens, then the tanh layer and L2
	// normalisation.
	x = ws.x[:n*hidden]
	start = 0
	for i, end := range ends {
		pool := ws.pool[i*hidden : (i+1)*hidden]
		copy(pool, x[start*hidden:(start+1)*hidden])
		for t := start + 1; t < end; t++ {
			add(pool, x[t*hidden:(t+1)*hidden])
		}
		inv := 1 / float32(end-start)
		for j := range pool {
			pool[j] *= inv
		}
		start = end
	}
	out = out[:len(ends)*Dimension]
	w.pool.apply(ws.pool[:len(ends)*hidden], len(ends), out)
	for i := range ends {
		v := out[i*Dimension : (i+1)*Dimension]
		for j, x := range v {
			v[j] = float32(math.Tanh(float64(x)))
		}
		sq := max(simd.Dot(v, v), w.l2Eps)
		r := float32(1 / math.Sqrt(float64(sq)))
		for j := range v {
			v[j] *= r
		}
	}
}

// attention computes one text's attention: from its n tokens' rows of
// q, k and v side by side in qkv (n × 3·width), the heads' outputs side by
// side in ctx (n × width).
func (w *weights) attention(ws *workspace, l *layer, qkv, ctx []float32, n int) {
	width := l.width
	dh := width / heads

	// Gather q, scaled, and k by head (rows of dh), and v by head,
	// transposed (rows of n), so that both products below are batches of
	// dot products.
	q, k, vt := ws.q[:n*width], ws.k[:n*width], ws.vt[:n*width]
	for t := range n {
		row := qkv[t*3*width : (t+1)*3*width]
		for hd := range heads {
			qh := q[(hd*n+t)*dh : (hd*n+t+1)*dh]
			for j, x := range row[hd*dh : (hd+1)*dh] {
				qh[j] = x * l.attnScale
			}
			copy(k[(hd*n+t)*dh:(hd*n+t+1)*dh], row[width+hd*dh:width+(hd+1)*dh])
			v := row[2*width+hd*dh : 2*width+(hd+1)*dh]
			base := hd * dh * n
			for d, x := range v {
				vt[base+d*n+t] = x
			}
		}
	}

	// Per head: the weights p = softmax(q·kᵀ) row by row, then p·v into
	// the head's columns of ctx.
	p := ws.p[:n*n]
	for hd := range heads {
		simd.DotBlockBatch(q[hd*n*dh:(hd+1)*n*dh], k[hd*n*dh:(hd+1)*n*dh], dh, p, n)
		for t := range n {
			softmax(p[t*n : (t+1)*n])
		}
		simd.DotBlockBatch(p, vt[hd*dh*n:(hd+1)*dh*n], n, ctx[hd*dh:], width)
	}
}

// apply sets y (n × out) to x (n × in) times the weights plus the bias.
// The weights are walked in blocks of l.rows rows, each block multiplied
// with every token by one DotBlockBatch while it is in cache. (Cutting a
// pack of 256 or 512 tokens into runs of 64 or 128 against each block, to
// keep the tokens in L2 as well, measured the same within 3 %.)
func (l *linear) apply(x []float32, n int, y []float32) {
	x = x[:n*l.in]
	for o := 0; o < l.out; o += l.rows {
		e := min(o+l.rows, l.out)
		simd.DotBlockBatch(x, l.w[o*l.in:e*l.in], l.in, y[o:], l.out)
	}
	for t := range n {
		add(y[t*l.out:(t+1)*l.out], l.b)
	}
}

// layerNorm normalises each row of x (width wide) into y: (x − mean) ·
// scale / sqrt(variance + eps) + bias.
func layerNorm(y, x []float32, width int, scale, bias []float32, eps float32) {
	for r := 0; r < len(x); r += width {
		xr, yr := x[r:r+width], y[r:r+width]
		var sum float32
		for _, v := range xr {
			sum += v
		}
		mean := sum / float32(width)
		var sq float32
		for _, v := range xr {
			d := v - mean
			sq += d * d
		}
		rs := float32(1 / math.Sqrt(float64(sq/float32(width)+eps)))
		for i, v := range xr {
			yr[i] = scale[i]*rs*(v-mean) + bias[i]
		}
	}
}

// softmax replaces p with exp(p − max) / Σ exp(p − max).
func softmax(p []float32) {
	m := p[0]
	for _, v := range p[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range p {
		e := float32(math.Exp(float64(v - m)))
		p[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range p {
		p[i] *= inv
	}
}

// add adds b to a, element by element.
func add(a, b []float32) {
	b = b[:len(a)]
	for i := range a {
		a[i] += b[i]
	}
}
