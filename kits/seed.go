package kits

import _ "embed"

//go:embed seed.yaml
var seed []byte

// Seed returns the seed's configuration as a berth.yaml, what `berth init`
// writes.
func Seed() []byte { return append([]byte(nil), seed...) }
