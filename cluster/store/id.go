package store

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// idLen is the length of Docker's object IDs: 128 random bits in base36
// need up to 25 digits.
const idLen = 25

// NewID returns a fresh object ID in Docker's form: 25 lowercase base36
// characters from 128 random bits. Proposers choose IDs before proposing,
// so that every replica stores the same one.
func NewID() string {
	var b [16]byte
	// crypto/rand.Read never returns an error (it crashes the program
	// instead), as documented since Go 1.24.
	_, _ = rand.Read(b[:])
	s := new(big.Int).SetBytes(b[:]).Text(36)
	if len(s) < idLen {
		s = strings.Repeat("0", idLen-len(s)) + s
	}
	return s
}
