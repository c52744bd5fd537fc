package simd_test

import (
	"fmt"

	"github.com/ragd/ragd/simd"
)

func ExampleDot() {
	a := []float32{1, 2, 3}
	b := []float32{4, 5, 6}
	fmt.Println(simd.Dot(a, b))
	// Output: 32
}

func ExampleCosine() {
	a := []float32{1, 0}
	b := []float32{3, 3}
	fmt.Printf("%.4f\n", simd.Cosine(a, b))
	fmt.Println(simd.Cosine(a, []float32{0, 0})) // a zero vector
	// Output:
	// 0.7071
	// 0
}

func ExampleL2SquaredBounded() {
	q := make([]float32, 512)
	far := make([]float32, 512)
	for i := range far {
		far[i] = 1
	}
	// The exact distance is 512. With a bound above it the result is exact;
	// with a bound of 100 the kernel may stop after the first 128 floats.
	fmt.Println(simd.L2SquaredBounded(q, far, 1000))
	fmt.Println(simd.L2SquaredBounded(q, far, 100) > 100)
	// Output:
	// 512
	// true
}

func ExampleL2SquaredBlock() {
	q := []float32{0, 0}
	block := []float32{
		3, 4, // row 0
		1, 1, // row 1
		0, 0, // row 2
	}
	out := make([]float32, 3)
	simd.L2SquaredBlock(q, block, out)
	fmt.Println(out)
	// Output: [25 2 0]
}

func ExampleHammingBlock() {
	q := []uint64{0b1011}
	block := []uint64{0b1011, 0b0000, 0b0100}
	out := make([]float32, len(block))
	simd.HammingBlock(q, block, out)
	fmt.Println(out)
	// Output: [0 3 4]
}

func ExampleNormalize() {
	v := []float32{3, 4}
	fmt.Println(simd.Normalize(v), v)
	fmt.Println(simd.Normalize([]float32{0, 0}))
	// Output:
	// true [0.6 0.8]
	// false
}

// A dense layer y = x·Wᵀ: two inputs of 3 floats against a weight matrix
// of 2 outputs stored one row per output.
func ExampleDotBlockBatch() {
	x := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{
		1, 0, 0,
		1, 1, 1,
	}
	y := make([]float32, 2*2)
	simd.DotBlockBatch(x, w, 3, y, 2)
	fmt.Println(y[:2])
	fmt.Println(y[2:])
	// Output:
	// [1 6]
	// [4 15]
}
