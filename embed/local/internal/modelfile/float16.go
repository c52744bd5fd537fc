package modelfile

import "math"

// fromFloat16 returns the float32 whose value is the binary16 h (exact:
// every binary16 is a binary32).
func fromFloat16(h uint16) float32 {
	if e := h & 0x7c00; e != 0 && e != 0x7c00 { // normal: the common case
		return math.Float32frombits(uint32(h&0x8000)<<16 | (uint32(h&0x7fff)<<13 + (127-15)<<23))
	}
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // ±Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: frac × 2^-24, exact in float32.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// toFloat16 rounds x to the nearest binary16 (ties to even) and reports
// whether it is finite there: false for NaN, ±Inf and |x| that rounds
// above 65504.
func toFloat16(x float32) (uint16, bool) {
	bits := math.Float32bits(x)
	sign := uint16(bits>>16) & 0x8000
	abs := bits & 0x7fffffff
	if abs >= 0x7f800000 { // NaN or ±Inf
		return 0, false
	}
	exp := int(abs>>23) - 127
	switch {
	case exp > 15:
		return 0, false
	case exp >= -14: // normal range
		mant := abs & 0x7fffff
		h := uint32(exp+15)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
			h++ // may carry into the exponent, which is the right result
		}
		if h >= 0x7c00 {
			return 0, false
		}
		return sign | uint16(h), true
	case exp >= -25: // subnormal: value = m × 2^-24 with m < 1024
		mant := abs&0x7fffff | 0x800000 // 24 significant bits, value = mant × 2^(exp-23)
		shift := uint(-exp - 1)         // to units of 2^-24: mant >> (-24 - (exp-23))
		h := mant >> shift
		rest := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || rest == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h), true
	}
	return sign, true // rounds to ±0
}
