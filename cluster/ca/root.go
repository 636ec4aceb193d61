package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

const (
	// RootValidity is how long a new root CA is valid, as in Swarm.
	RootValidity = 20 * 365 * 24 * time.Hour
	// Backdate moves NotBefore into the past so that a node whose clock is
	// a little behind the issuer's accepts a certificate issued just now.
	Backdate = time.Hour

	rootCommonName = "swarmops-root-ca"
	digestPrefix   = "sha256:"
)

// ErrNoSigningKey is returned by the signing methods of a RootCA that was
// loaded from the certificate alone (a worker's view of the CA).
var ErrNoSigningKey = errors.New("root CA has no signing key on this node")

// RootCA is the cluster's root certificate and, on managers, its key.
// It is immutable and safe for concurrent use.
type RootCA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	digest  string
	pool    *x509.CertPool
}

// NewRootCA creates a self-signed ECDSA P-256 root valid for RootValidity
// from now, able to sign only end-entity certificates (path length 0).
func NewRootCA(now time.Time) (*RootCA, error) {
	key, err := NewKey()
	if err != nil {
		return nil, fmt.Errorf("new root CA: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("new root CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: rootCommonName},
		NotBefore:             now.Add(-Backdate).UTC(),
		NotAfter:              now.Add(RootValidity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new root CA: sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new root CA: %w", err)
	}
	return newRootCA(cert, key), nil
}

func newRootCA(cert *x509.Certificate, key *ecdsa.PrivateKey) *RootCA {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &RootCA{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		key:     key,
		digest:  DigestOf(cert.Raw),
		pool:    pool,
	}
}

// ParseRootCA reads a root certificate and, when keyPEM is not empty, its
// private key. Without a key the RootCA verifies but cannot sign.
func ParseRootCA(certPEM, keyPEM []byte) (*RootCA, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("root CA: %w", err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("root CA: want exactly one certificate, found %d", len(certs))
	}
	cert := certs[0]
	if err := checkRoot(cert); err != nil {
		return nil, fmt.Errorf("root CA: %w", err)
	}
	if len(bytes.TrimSpace(keyPEM)) == 0 {
		return newRootCA(cert, nil), nil
	}
	signer, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("root CA key: %w", err)
	}
	key, ok := signer.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("root CA key: want an ECDSA key, got %T", signer)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("root CA key does not match the root certificate")
	}
	return newRootCA(cert, key), nil
}

// checkRoot refuses a certificate that cannot be a root: one that is not a
// CA, or whose self-signature does not verify.
func checkRoot(cert *x509.Certificate) error {
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return fmt.Errorf("certificate %q is not a CA", cert.Subject.CommonName)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return fmt.Errorf("certificate %q is not self-signed: %w", cert.Subject.CommonName, err)
	}
	return nil
}

// Cert returns the root certificate. Callers must not modify it.
func (ca *RootCA) Cert() *x509.Certificate { return ca.cert }

// CertPEM returns the root certificate in PEM form (ca.pem).
func (ca *RootCA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// CanSign reports whether this RootCA holds the signing key.
func (ca *RootCA) CanSign() bool { return ca.key != nil }

// KeyPEM returns the signing key in PKCS #8 PEM form, or ErrNoSigningKey.
func (ca *RootCA) KeyPEM() ([]byte, error) {
	if ca.key == nil {
		return nil, ErrNoSigningKey
	}
	return EncodeKey(ca.key)
}

// Digest is "sha256:" and the hex SHA-256 of the root certificate's DER
// encoding; join tokens carry it so joining nodes can pin the root.
func (ca *RootCA) Digest() string { return ca.digest }

// Pool returns a pool holding only the root, for RootCAs and ClientCAs.
func (ca *RootCA) Pool() *x509.CertPool { return ca.pool.Clone() }

// VerifyOnly returns the same root without its key, the form handed to
// workers and clients.
func (ca *RootCA) VerifyOnly() *RootCA { return newRootCA(ca.cert, nil) }

// DigestOf returns the digest of a DER certificate in the form Digest uses.
func DigestOf(der []byte) string {
	sum := sha256.Sum256(der)
	return digestPrefix + hex.EncodeToString(sum[:])
}

// ParseDigest checks that s is a digest as Digest writes it and returns the
// raw hash.
func ParseDigest(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(s, digestPrefix)
	if !ok {
		return sum, fmt.Errorf("CA digest %q: want %q followed by 64 hex digits", s, digestPrefix)
	}
	if len(hexPart) != 2*sha256.Size || strings.ToLower(hexPart) != hexPart {
		return sum, fmt.Errorf("CA digest %q: want %q followed by 64 lowercase hex digits", s, digestPrefix)
	}
	if _, err := hex.Decode(sum[:], []byte(hexPart)); err != nil {
		return sum, fmt.Errorf("CA digest %q: %w", s, err)
	}
	return sum, nil
}

// NewKey generates the P-256 key every node and client certificate uses.
func NewKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

// EncodeKey writes a private key as a PKCS #8 "PRIVATE KEY" PEM block,
// which Go's tls.X509KeyPair (and so the docker CLI) reads.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads the first private key PEM block (PKCS #8, SEC 1 "EC
// PRIVATE KEY" or PKCS #1 "RSA PRIVATE KEY").
func ParseKey(keyPEM []byte) (crypto.Signer, error) {
	rest := keyPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no private key PEM block found")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key of type %T cannot sign", key)
		}
		return signer, nil
	}
}

// ParseCertificates reads every CERTIFICATE block in data, in order, and
// fails if there is none or if anything but whitespace and PEM is present.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q where certificates were expected", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE PEM block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("trailing data that is not PEM after the certificates")
	}
	return certs, nil
}

// randomSerial returns a positive 128-bit serial, as RFC 5280 asks (no
// more than 20 octets) and CA/B guidance recommends (unpredictable).
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
