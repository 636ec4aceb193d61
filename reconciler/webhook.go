package reconciler

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxWebhookBody is the largest delivery WebhookHandler reads.
const MaxWebhookBody = 5 << 20

// Errors VerifyWebhook wraps: ErrWebhookUnverified when the delivery's
// signature or token is missing or wrong (or there is no secret to check it
// with), ErrWebhookMalformed when it is not a delivery of a known provider or
// its push payload does not parse.
var (
	ErrWebhookUnverified = errors.New("webhook delivery not verified")
	ErrWebhookMalformed  = errors.New("malformed webhook delivery")
)

// WebhookEvent is a verified webhook delivery.
type WebhookEvent struct {
	Provider string // github, gitea or gitlab
	Event    string // the provider's event name: push, ping, Push Hook, …
	Ref      string // refs/heads/main for a push; empty for other events
	After    string // the commit the ref now points at
}

// IsPush reports whether the event moved a branch.
func (e WebhookEvent) IsPush() bool { return strings.HasPrefix(e.Ref, "refs/heads/") }

// VerifyWebhook checks a delivery against secret and parses its push
// payload:
//
//	GitHub: X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>, X-GitHub-Event
//	Gitea:  X-Gitea-Signature: <hex HMAC-SHA256> (or X-Hub-Signature-256), X-Gitea-Event
//	GitLab: X-Gitlab-Token: <secret>, X-Gitlab-Event
//
// Other events (ping, …) verify but carry no Ref. All comparisons take
// constant time, and no error repeats a signature, token or secret.
func VerifyWebhook(h http.Header, body []byte, secret []byte) (WebhookEvent, error) {
	var ev WebhookEvent
	// Gitea also sends X-GitHub-Event, so it is recognised first.
	switch {
	case h.Get("X-Gitea-Event") != "":
		ev = WebhookEvent{Provider: "gitea", Event: h.Get("X-Gitea-Event")}
	case h.Get("X-Gitlab-Event") != "":
		ev = WebhookEvent{Provider: "gitlab", Event: h.Get("X-Gitlab-Event")}
	case h.Get("X-GitHub-Event") != "":
		ev = WebhookEvent{Provider: "github", Event: h.Get("X-GitHub-Event")}
	default:
		return WebhookEvent{}, fmt.Errorf("%w: no X-GitHub-Event, X-Gitea-Event or X-Gitlab-Event header: deliveries from GitHub, Gitea and GitLab are understood", ErrWebhookMalformed)
	}
	if len(secret) == 0 {
		return WebhookEvent{}, fmt.Errorf("%w: no webhook secret is configured", ErrWebhookUnverified)
	}
	if err := verifySignature(ev.Provider, h, body, secret); err != nil {
		return WebhookEvent{}, err
	}
	if !isPushEvent(ev) {
		return ev, nil
	}
	var p struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return WebhookEvent{}, fmt.Errorf("%w: %s %s payload is not JSON: %v", ErrWebhookMalformed, ev.Provider, ev.Event, err)
	}
	if p.Ref == "" {
		return WebhookEvent{}, fmt.Errorf("%w: %s %s payload has no \"ref\"", ErrWebhookMalformed, ev.Provider, ev.Event)
	}
	ev.Ref, ev.After = p.Ref, p.After
	return ev, nil
}

func isPushEvent(ev WebhookEvent) bool {
	if ev.Provider == "gitlab" {
		return ev.Event == "Push Hook"
	}
	return ev.Event == "push"
}

func verifySignature(provider string, h http.Header, body, secret []byte) error {
	if provider == "gitlab" {
		token := h.Get("X-Gitlab-Token")
		if token == "" {
			return fmt.Errorf("%w: no X-Gitlab-Token header: set the secret token in the GitLab webhook", ErrWebhookUnverified)
		}
		if !equalSecrets([]byte(token), secret) {
			return fmt.Errorf("%w: X-Gitlab-Token does not match the webhook secret", ErrWebhookUnverified)
		}
		return nil
	}
	header, sig := "X-Hub-Signature-256", h.Get("X-Hub-Signature-256")
	if provider == "gitea" && h.Get("X-Gitea-Signature") != "" {
		header, sig = "X-Gitea-Signature", h.Get("X-Gitea-Signature")
	}
	if sig == "" {
		return fmt.Errorf("%w: the delivery is not signed (no %s header): set the secret in the %s webhook", ErrWebhookUnverified, header, provider)
	}
	if header == "X-Hub-Signature-256" {
		var ok bool
		if sig, ok = strings.CutPrefix(sig, "sha256="); !ok {
			return fmt.Errorf("%w: %s is not of the form sha256=<hex>", ErrWebhookUnverified, header)
		}
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: %s is not a hex HMAC-SHA256", ErrWebhookUnverified, header)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: %s does not match the body signed with the webhook secret (wrong secret, or the body was changed)", ErrWebhookUnverified, header)
	}
	return nil
}

// equalSecrets compares two secrets in constant time, their lengths
// included: it compares digests, which all have the same length.
func equalSecrets(a, b []byte) bool {
	da, db := sha256.Sum256(a), sha256.Sum256(b)
	return hmac.Equal(da[:], db[:])
}

// WebhookHandler serves webhook deliveries (POST). It verifies each with
// secret(), and calls trigger for a push to the tracked branch (branch()
// names it; empty, or a nil branch, accepts a push to any branch). trigger
// runs on the request's goroutine, so it should only note that a sync is
// due (a non-blocking channel send, say).
//
// Answers: 202 when a sync was triggered; 200 for a delivery that needs
// nothing (ping, another branch, a tag); 400 for one that is not a
// delivery or does not parse; 401 when the signature does not verify;
// 413 above MaxWebhookBody; 503 when no secret is configured.
func WebhookHandler(secret func() []byte, branch func() string, trigger func(WebhookEvent)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "webhook deliveries are POSTed", http.StatusMethodNotAllowed)
			return
		}
		var key []byte
		if secret != nil {
			key = secret()
		}
		if len(key) == 0 {
			http.Error(w, "no webhook secret is configured: set one with `swarmops repo set --webhook-secret-file FILE`", http.StatusServiceUnavailable)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, fmt.Sprintf("delivery larger than %d bytes", MaxWebhookBody), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "reading the delivery: "+err.Error(), http.StatusBadRequest)
			return
		}
		ev, err := VerifyWebhook(r.Header, body, key)
		switch {
		case errors.Is(err, ErrWebhookUnverified):
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tracked := ""
		if branch != nil {
			tracked = strings.TrimPrefix(branch(), "refs/heads/")
		}
		switch {
		case ev.Ref == "":
			respond(w, http.StatusOK, "ignored: %s %s event", ev.Provider, ev.Event)
		case !ev.IsPush():
			respond(w, http.StatusOK, "ignored: push to %s, which is not a branch", ev.Ref)
		case tracked != "" && ev.Ref != "refs/heads/"+tracked:
			respond(w, http.StatusOK, "ignored: push to %s, the tracked branch is %s", ev.Ref, tracked)
		default:
			trigger(ev)
			respond(w, http.StatusAccepted, "sync triggered by a push to %s (%s)", ev.Ref, ev.After)
		}
	})
}

func respond(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, format+"\n", args...)
}
