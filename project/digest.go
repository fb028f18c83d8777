package project

import (
	"crypto/sha256"
	"encoding/hex"
)

// Digest identifies a desired state, so that an apply that changes
// nothing records no new generation.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
