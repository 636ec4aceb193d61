package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func newSealer(t *testing.T) (*Sealer, Key) {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

func TestSealOpen(t *testing.T) {
	s, _ := newSealer(t)
	for _, plain := range [][]byte{nil, []byte("p4ssw0rd"), bytes.Repeat([]byte("x"), 1<<16)} {
		sealed, err := s.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) > 0 && bytes.Contains(sealed, plain) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
	}
}

func TestSealIsRandomised(t *testing.T) {
	s, _ := newSealer(t)
	a, _ := s.Seal([]byte("same"))
	b, _ := s.Seal([]byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
}

func TestOpenRefuses(t *testing.T) {
	s, _ := newSealer(t)
	other, _ := newSealer(t)
	sealed, err := s.Seal([]byte("secret data"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	badVersion := bytes.Clone(sealed)
	badVersion[0] = 9
	for name, in := range map[string][]byte{
		"other key":   sealed,
		"changed":     flipped,
		"bad version": badVersion,
		"short":       sealed[:5],
		"empty":       nil,
	} {
		opener := s
		if name == "other key" {
			opener = other
		}
		if _, err := opener.Open(in); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open error = %v, want ErrOpen", name, err)
		}
	}
}

func TestKeyFile(t *testing.T) {
	_, key := newSealer(t)
	path := filepath.Join(t.TempDir(), "certs", "cluster.key")
	if err := WriteKeyFile(path, key); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	got, err := ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != key {
		t.Fatal("key read back differs")
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(path); err == nil {
		t.Fatal("ReadKeyFile accepted a 5-byte file")
	}
}
