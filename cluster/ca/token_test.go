package ca

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var tokenForm = regexp.MustCompile(`^SWMOPS-1-[0-9a-z]{50}-[0-9a-z]{25}$`)

func TestTokenRoundTrip(t *testing.T) {
	ca := newCA(t, t0)
	tok, err := GenerateToken(ca.Digest())
	if err != nil {
		t.Fatal(err)
	}
	if !tokenForm.MatchString(tok) {
		t.Fatalf("token %q does not have the form SWMOPS-1-<50>-<25>", tok)
	}
	p, err := ParseToken(tok)
	if err != nil {
		t.Fatalf("ParseToken: %v", err)
	}
	if p.CADigest != ca.Digest() {
		t.Errorf("digest = %s, want %s", p.CADigest, ca.Digest())
	}
	if p.String() != tok {
		t.Errorf("String() = %q, want %q", p.String(), tok)
	}
	if again, _ := GenerateToken(ca.Digest()); again == tok {
		t.Error("two generated tokens are equal")
	}
	// Pasted tokens often carry a newline.
	if p2, err := ParseToken(" " + tok + "\n"); err != nil || p2 != p {
		t.Errorf("token with surrounding space: %v", err)
	}
}

func TestTokenDigestExtremes(t *testing.T) {
	for _, d := range []string{
		"sha256:" + strings.Repeat("0", 64),
		"sha256:" + strings.Repeat("0", 63) + "1",
		"sha256:" + strings.Repeat("f", 64),
	} {
		tok, err := GenerateToken(d)
		if err != nil {
			t.Fatalf("GenerateToken(%s): %v", d, err)
		}
		if !tokenForm.MatchString(tok) {
			t.Errorf("token for %s is %q, not padded to the fixed form", d, tok)
		}
		p, err := ParseToken(tok)
		if err != nil || p.CADigest != d {
			t.Errorf("round trip of %s: %+v, %v", d, p, err)
		}
	}
	if _, err := GenerateToken("sha256:nope"); err == nil {
		t.Error("GenerateToken accepted a malformed digest")
	}
}

func TestParseTokenRejects(t *testing.T) {
	ca := newCA(t, t0)
	good, _ := GenerateToken(ca.Digest())
	parts := strings.Split(good, "-")
	digest, secret := parts[2], parts[3]
	tests := []struct {
		name, token, want string
	}{
		{"empty", "", "empty"},
		{"docker swarm token", "SWMTKN-1-" + digest + "-" + secret, "Docker Swarm token"},
		{"wrong prefix", "SWMOP-1-" + digest + "-" + secret, "starts with SWMOPS-1-"},
		{"lowercase prefix", "swmops-1-" + digest + "-" + secret, "starts with SWMOPS-1-"},
		{"newer version", "SWMOPS-2-" + digest + "-" + secret, "upgrade swarmops"},
		{"prefix only", "SWMOPS", "version"},
		{"missing secret", "SWMOPS-1-" + digest, "want 4 dash-separated parts"},
		{"extra part", good + "-x", "want 4 dash-separated parts"},
		{"short digest", "SWMOPS-1-" + digest[1:] + "-" + secret, "CA digest part has 49 characters"},
		{"uppercase digest", "SWMOPS-1-" + strings.ToUpper(digest) + "-" + secret, "CA digest part has a character"},
		{"digest beyond 256 bits", "SWMOPS-1-" + strings.Repeat("z", 50) + "-" + secret, "CA digest part is out of range"},
		{"short secret", "SWMOPS-1-" + digest + "-" + secret[:24], "secret part has 24 characters"},
		{"secret beyond 128 bits", "SWMOPS-1-" + digest + "-" + strings.Repeat("z", 25), "secret part is out of range"},
		{"secret with punctuation", "SWMOPS-1-" + digest + "-" + secret[:24] + "!", "secret part has a character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseToken(tt.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("ParseToken: %v, want ErrInvalidToken", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not say %q", msg, tt.want)
			}
			if !strings.Contains(msg, "swarmops join-token") && !strings.Contains(msg, "copied whole") {
				t.Errorf("message %q names no fix", msg)
			}
			if strings.Contains(msg, secret[:10]) {
				t.Errorf("message %q repeats the secret", msg)
			}
		})
	}
}

func TestJoinTokensMatch(t *testing.T) {
	ca := newCA(t, t0)
	jt, err := NewJoinTokens(ca.Digest())
	if err != nil {
		t.Fatal(err)
	}
	if jt.Worker == jt.Manager {
		t.Fatal("worker and manager tokens are equal")
	}
	if role, err := jt.Match(jt.Worker); err != nil || role != RoleWorker {
		t.Errorf("worker token: %q, %v", role, err)
	}
	if role, err := jt.Match(jt.Manager + "\n"); err != nil || role != RoleManager {
		t.Errorf("manager token: %q, %v", role, err)
	}

	guess, _ := GenerateToken(ca.Digest())
	if _, err := jt.Match(guess); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("wrong secret: %v, want ErrTokenRejected", err)
	}
	other := newCA(t, t0)
	// The right secret under another CA's digest is still refused: the
	// token pins the CA.
	p, _ := ParseToken(jt.Worker)
	foreign := Token{CADigest: other.Digest(), Secret: p.Secret}.String()
	if _, err := jt.Match(foreign); !errors.Is(err, ErrTokenWrongCA) {
		t.Errorf("token of another CA: %v, want ErrTokenWrongCA", err)
	}
	if _, err := jt.Match("SWMTKN-1-abc-def"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("swarm token: %v, want ErrInvalidToken", err)
	}
}

func TestJoinTokensRotate(t *testing.T) {
	ca := newCA(t, t0)
	jt, err := NewJoinTokens(ca.Digest())
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := jt.Rotate(RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Worker == jt.Worker || rotated.Manager != jt.Manager {
		t.Fatalf("Rotate(worker) changed worker %v and manager %v; want only the worker", rotated.Worker != jt.Worker, rotated.Manager != jt.Manager)
	}
	if p, _ := ParseToken(rotated.Worker); p.CADigest != ca.Digest() {
		t.Errorf("rotated token pins %s, want the same CA %s", p.CADigest, ca.Digest())
	}
	if _, err := rotated.Match(jt.Worker); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("old worker token after rotation: %v, want ErrTokenRejected", err)
	}
	if role, err := rotated.Match(rotated.Worker); err != nil || role != RoleWorker {
		t.Errorf("new worker token: %q, %v", role, err)
	}
	if role, err := rotated.Match(jt.Manager); err != nil || role != RoleManager {
		t.Errorf("manager token after worker rotation: %q, %v", role, err)
	}

	m, err := rotated.Rotate(RoleManager)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Match(jt.Manager); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("old manager token after rotation: %v, want ErrTokenRejected", err)
	}
	if _, err := m.Rotate(RoleClient); err == nil {
		t.Error("Rotate(client) succeeded; clients have no join token")
	}
	if _, err := m.Token(RoleClient); err == nil {
		t.Error("Token(client) succeeded")
	}
}

func FuzzParseToken(f *testing.F) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tok, err := GenerateToken(digest)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{tok, "", "SWMOPS-1--", "SWMTKN-1-x-y", tok + "-", strings.ToUpper(tok)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		// Every accepted token has exactly one spelling.
		if got := p.String(); got != strings.TrimSpace(s) {
			t.Fatalf("ParseToken(%q).String() = %q", s, got)
		}
		if _, err := ParseDigest(p.CADigest); err != nil {
			t.Fatalf("accepted token yields a bad digest: %v", err)
		}
	})
}
