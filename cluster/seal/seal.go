// Package seal encrypts secret data at rest under the cluster key with
// AES-256-GCM, so the Raft log, its snapshots and the store hold only
// ciphertext. Managers seal secret data before proposing it and open it only
// to hand it to the nodes whose tasks use it; the key itself lives on
// managers only, in a 0600 file beside their certificates.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeySize is the size of a cluster key: AES-256.
const KeySize = 32

// version prefixes every sealed value so the format can change without
// ambiguity.
const version byte = 1

// ErrOpen means a sealed value could not be opened: it was made under
// another key, or it was changed.
var ErrOpen = errors.New("seal: cannot open: wrong cluster key or corrupted data")

// Key is a cluster key.
type Key [KeySize]byte

// NewKey makes a random cluster key.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("seal: new key: %w", err)
	}
	return k, nil
}

// Sealer seals and opens values under one cluster key.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for key.
func New(key Key) (*Sealer, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain: version byte, random nonce, ciphertext and tag.
func (s *Sealer) Seal(plain []byte) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], plain, out[:1]), nil
}

// Open decrypts a value Seal made. It returns ErrOpen when the value was
// made under another key or was changed.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], sealed[:1])
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// WriteKeyFile writes key to path with mode 0600: to a temporary file
// first, then renamed, so a crash never leaves half a key.
func WriteKeyFile(path string, key Key) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("seal: write key %s: %w", path, err)
		}
	}()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".cluster-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(key[:]); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadKeyFile reads a key WriteKeyFile wrote.
func ReadKeyFile(path string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("seal: read key: %w", err)
	}
	if len(data) != KeySize {
		return Key{}, fmt.Errorf("seal: read key %s: %d bytes, want %d: the file is not a cluster key", path, len(data), KeySize)
	}
	var k Key
	copy(k[:], data)
	return k, nil
}
