package spm

// SetSegmentBytes changes how much normalised text Encode gathers before
// it cuts at a space, so that tests can compare every segmentation.
func SetSegmentBytes(t *Tokenizer, n int) { t.segment = n }

// Cuttable reports whether t encodes long texts segment by segment.
func Cuttable(t *Tokenizer) bool { return t.cuttable }
