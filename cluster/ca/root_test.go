package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestNewRootCA(t *testing.T) {
	ca := newCA(t, t0)
	c := ca.Cert()
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("root constraints: IsCA=%v valid=%v maxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("root key is %T, want ECDSA P-256", c.PublicKey)
	}
	if want := t0.Add(RootValidity); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %s, want %s (20 years)", c.NotAfter, want)
	}
	if want := t0.Add(-Backdate); !c.NotBefore.Equal(want) {
		t.Errorf("NotBefore = %s, want %s", c.NotBefore, want)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("root is not self-signed: %v", err)
	}
	sum := sha256.Sum256(c.Raw)
	if want := "sha256:" + hex.EncodeToString(sum[:]); ca.Digest() != want {
		t.Errorf("Digest = %s, want %s", ca.Digest(), want)
	}
	if !ca.CanSign() {
		t.Error("a new root must be able to sign")
	}
	if other := newCA(t, t0); other.Digest() == ca.Digest() {
		t.Error("two new roots share a digest")
	}
}

func TestParseRootCARoundTrip(t *testing.T) {
	ca := newCA(t, t0)
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRootCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatalf("ParseRootCA: %v", err)
	}
	if back.Digest() != ca.Digest() || !back.CanSign() {
		t.Errorf("round trip: digest %s can sign %v, want %s true", back.Digest(), back.CanSign(), ca.Digest())
	}
	// A root loaded back signs certificates the original verifies.
	key, _ := NewKey()
	leaf, err := back.Issue("n1", RoleWorker, nil, nil, key.Public(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Verify(leaf, t0); err != nil {
		t.Errorf("certificate from the reloaded root: %v", err)
	}

	verifyOnly, err := ParseRootCA(ca.CertPEM(), nil)
	if err != nil {
		t.Fatalf("ParseRootCA without key: %v", err)
	}
	if verifyOnly.CanSign() {
		t.Error("root without key claims it can sign")
	}
	if _, err := verifyOnly.Issue("n1", RoleWorker, nil, nil, key.Public(), t0); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("Issue without key: %v, want ErrNoSigningKey", err)
	}
	if _, err := verifyOnly.KeyPEM(); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("KeyPEM without key: %v, want ErrNoSigningKey", err)
	}
	if _, err := ca.VerifyOnly().KeyPEM(); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("VerifyOnly().KeyPEM: %v, want ErrNoSigningKey", err)
	}
}

func TestParseRootCARejects(t *testing.T) {
	ca := newCA(t, t0)
	other := newCA(t, t0)
	otherKey, _ := other.KeyPEM()
	leafPEM, _, err := ca.IssueKeyPair("n1", RoleManager, nil, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		cert, key     []byte
		wantInMessage string
	}{
		{"garbage", []byte("not pem"), nil, "no CERTIFICATE"},
		{"two certificates", append(ca.CertPEM(), other.CertPEM()...), nil, "exactly one"},
		{"a leaf is not a root", leafPEM, nil, "not a CA"},
		{"key of another root", ca.CertPEM(), otherKey, "does not match"},
		{"key is garbage", ca.CertPEM(), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "PRIVATE KEY"},
		{"trailing junk", append(ca.CertPEM(), "junk"...), nil, "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRootCA(tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.wantInMessage) {
				t.Errorf("ParseRootCA: %v, want an error containing %q", err, tt.wantInMessage)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	good := "sha256:" + strings.Repeat("0a", 32)
	sum, err := ParseDigest(good)
	if err != nil || sum[0] != 0x0a || sum[31] != 0x0a {
		t.Errorf("ParseDigest(good) = %x, %v", sum, err)
	}
	for _, bad := range []string{
		"",
		strings.Repeat("0a", 32),                   // no prefix
		"sha512:" + strings.Repeat("0a", 32),       // wrong algorithm
		"sha256:" + strings.Repeat("0a", 31),       // short
		"sha256:" + strings.Repeat("0A", 32),       // not canonical
		"sha256:" + strings.Repeat("zz", 32),       // not hex
		"sha256:" + strings.Repeat("0a", 32) + "0", // long
	} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
}

func TestKeyPEMRoundTrip(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	p, err := EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(p, []byte("BEGIN PRIVATE KEY")) {
		t.Errorf("key is not PKCS #8 PEM:\n%s", p)
	}
	back, err := ParseKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(back) {
		t.Error("parsed key differs from the encoded one")
	}
	if _, err := ParseKey([]byte("no key here")); err == nil {
		t.Error("ParseKey accepted text without a key")
	}
}
