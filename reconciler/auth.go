package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// fingerprint identifies credentials without holding them, so a change of
// credentials rebuilds the source.
func fingerprint(a Auth) string {
	b, _ := json.Marshal(a)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// RedactURL is a repository URL without the user information it may carry
// ("https://user:token@host/repo" -> "https://host/repo").
func RedactURL(raw string) string { return stripUserinfo(raw) }
