package ca

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Join tokens look like Swarm's: SWMOPS-1-<digest>-<secret>, where digest is
// the root certificate's SHA-256 in base 36, zero-padded to 50 characters,
// and secret is 128 random bits in base 36, zero-padded to 25. The digest
// lets a joining node pin the CA; the secret is what the manager checks.
// Nothing in a token says which role it grants: the manager knows by which
// of its two current tokens matches.
const (
	TokenPrefix  = "SWMOPS"
	TokenVersion = "1"

	tokenBase      = 36
	tokenDigestLen = 50 // ceil(256 / log2(36))
	tokenSecretLen = 25 // ceil(128 / log2(36))
	secretBytes    = 16

	tokenHint = "get the current one by running 'swarmops join-token worker' (or manager) on a manager"
)

// Errors about join tokens, checked with errors.Is.
var (
	// ErrInvalidToken means the text is not a swarmops join token at all.
	ErrInvalidToken = errors.New("invalid join token")
	// ErrTokenWrongCA means the token is well formed but names another CA:
	// it belongs to another cluster.
	ErrTokenWrongCA = errors.New("join token is for another cluster's CA")
	// ErrTokenRejected means the token names this cluster's CA but matches
	// neither current token: it was rotated or mistyped.
	ErrTokenRejected = errors.New("join token rejected")
)

// Token is a parsed join token.
type Token struct {
	// CADigest is the root certificate's digest in the form RootCA.Digest
	// returns ("sha256:" and 64 hex digits).
	CADigest string
	// Secret is the base 36 secret, exactly as it appears in the token.
	Secret string
}

// String writes the token in its canonical form.
func (t Token) String() string {
	return TokenPrefix + "-" + TokenVersion + "-" + digestToBase36(t.CADigest) + "-" + t.Secret
}

// GenerateToken makes a new join token for the CA with the given digest.
func GenerateToken(caDigest string) (string, error) {
	if _, err := ParseDigest(caDigest); err != nil {
		return "", fmt.Errorf("generate join token: %w", err)
	}
	var raw [secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate join token: %w", err)
	}
	secret := new(big.Int).SetBytes(raw[:]).Text(tokenBase)
	return Token{CADigest: caDigest, Secret: leftPad(secret, tokenSecretLen)}.String(), nil
}

// ParseToken checks the form of a join token. Its errors wrap
// ErrInvalidToken, say what is wrong and how to get a good token, and never
// repeat the token (it is a secret).
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, fmt.Errorf("%w: the token is empty; %s", ErrInvalidToken, tokenHint)
	}
	parts := strings.Split(s, "-")
	switch {
	case parts[0] == "SWMTKN":
		return Token{}, fmt.Errorf("%w: this is a Docker Swarm token (SWMTKN-...), not a swarmops one; %s", ErrInvalidToken, tokenHint)
	case parts[0] != TokenPrefix:
		return Token{}, fmt.Errorf("%w: a swarmops token starts with %s-%s-; %s", ErrInvalidToken, TokenPrefix, TokenVersion, tokenHint)
	case len(parts) < 2 || parts[1] != TokenVersion:
		return Token{}, fmt.Errorf("%w: token format version is not %s, the only one this swarmops reads; upgrade swarmops on this node or %s",
			ErrInvalidToken, TokenVersion, tokenHint)
	case len(parts) != 4:
		return Token{}, fmt.Errorf("%w: want 4 dash-separated parts (%s-%s-<CA digest>-<secret>), found %d; check the token was copied whole",
			ErrInvalidToken, TokenPrefix, TokenVersion, len(parts))
	}
	digest, err := base36ToDigest(parts[2])
	if err != nil {
		return Token{}, fmt.Errorf("%w: CA digest part %v; check the token was copied whole", ErrInvalidToken, err)
	}
	if err := checkBase36(parts[3], tokenSecretLen, 8*secretBytes); err != nil {
		return Token{}, fmt.Errorf("%w: secret part %v; check the token was copied whole", ErrInvalidToken, err)
	}
	return Token{CADigest: digest, Secret: parts[3]}, nil
}

// JoinTokens are a cluster's two current tokens, as the cluster object in
// the store keeps them.
type JoinTokens struct {
	Worker  string
	Manager string
}

// NewJoinTokens makes fresh worker and manager tokens for a CA.
func NewJoinTokens(caDigest string) (JoinTokens, error) {
	w, err := GenerateToken(caDigest)
	if err != nil {
		return JoinTokens{}, err
	}
	m, err := GenerateToken(caDigest)
	if err != nil {
		return JoinTokens{}, err
	}
	return JoinTokens{Worker: w, Manager: m}, nil
}

// Token returns the current token for role (worker or manager).
func (jt JoinTokens) Token(role Role) (string, error) {
	switch role {
	case RoleWorker:
		return jt.Worker, nil
	case RoleManager:
		return jt.Manager, nil
	}
	return "", fmt.Errorf("no join token for role %q: want %s or %s", role, RoleWorker, RoleManager)
}

// Rotate replaces the token for role with one with a new secret and the
// same CA digest; the old token stops matching.
func (jt JoinTokens) Rotate(role Role) (JoinTokens, error) {
	old, err := jt.Token(role)
	if err != nil {
		return jt, fmt.Errorf("rotate join token: %w", err)
	}
	t, err := ParseToken(old)
	if err != nil {
		return jt, fmt.Errorf("rotate %s join token: current token: %w", role, err)
	}
	fresh, err := GenerateToken(t.CADigest)
	if err != nil {
		return jt, fmt.Errorf("rotate %s join token: %w", role, err)
	}
	if role == RoleWorker {
		jt.Worker = fresh
	} else {
		jt.Manager = fresh
	}
	return jt, nil
}

// Match returns the role a presented token grants. Both current tokens are
// always compared, in constant time, so timing reveals neither a secret nor
// which role came close.
func (jt JoinTokens) Match(presented string) (Role, error) {
	p, err := ParseToken(presented)
	if err != nil {
		return "", err
	}
	w, err := ParseToken(jt.Worker)
	if err != nil {
		return "", fmt.Errorf("cluster's worker join token: %w", err)
	}
	m, err := ParseToken(jt.Manager)
	if err != nil {
		return "", fmt.Errorf("cluster's manager join token: %w", err)
	}
	if p.CADigest != w.CADigest {
		return "", fmt.Errorf("%w: the token pins CA %s, this cluster's CA is %s; %s",
			ErrTokenWrongCA, p.CADigest, w.CADigest, tokenHint)
	}
	canonical := []byte(p.String())
	isWorker := subtle.ConstantTimeCompare(canonical, []byte(w.String()))
	isManager := subtle.ConstantTimeCompare(canonical, []byte(m.String()))
	switch {
	case isManager == 1:
		return RoleManager, nil
	case isWorker == 1:
		return RoleWorker, nil
	}
	return "", fmt.Errorf("%w: it is not the cluster's current worker or manager token (rotated or mistyped); %s",
		ErrTokenRejected, tokenHint)
}

func digestToBase36(digest string) string {
	sum, err := ParseDigest(digest)
	if err != nil {
		// Token values are built only from checked digests.
		panic(fmt.Sprintf("join token with unchecked CA digest: %v", err))
	}
	return leftPad(new(big.Int).SetBytes(sum[:]).Text(tokenBase), tokenDigestLen)
}

func base36ToDigest(s string) (string, error) {
	if err := checkBase36(s, tokenDigestLen, 256); err != nil {
		return "", err
	}
	n, _ := new(big.Int).SetString(s, tokenBase)
	var sum [32]byte
	n.FillBytes(sum[:])
	return digestPrefix + hex.EncodeToString(sum[:]), nil
}

// checkBase36 insists on the canonical form GenerateToken writes (exact
// length, lowercase, value in range) so that one secret has one spelling
// and Match can compare strings.
func checkBase36(s string, length, maxBits int) error {
	if len(s) != length {
		return fmt.Errorf("has %d characters, want %d", len(s), length)
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return errors.New("has a character other than 0-9 and a-z")
		}
	}
	n, ok := new(big.Int).SetString(s, tokenBase)
	if !ok || n.BitLen() > maxBits {
		return errors.New("is out of range")
	}
	return nil
}

func leftPad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}
