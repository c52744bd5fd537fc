package local

import "errors"

// ErrCorruptModel is returned by New when the model file cannot be used:
// truncated, failing its CRC-32C, structurally invalid, or holding tensors
// of other shapes than the network needs. The embedded file is checked by
// the tests, so outside them this means a damaged build.
var ErrCorruptModel = errors.New("local: corrupt model file")
