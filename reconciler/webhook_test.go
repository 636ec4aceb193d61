package reconciler

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	hookSecret = "hook-s3cret-value"
	pushMain   = `{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222","commits":[]}`
	pushDev    = `{"ref":"refs/heads/dev","after":"3333333333333333333333333333333333333333"}`
	pushTag    = `{"ref":"refs/tags/v1","after":"4444444444444444444444444444444444444444"}`
	pingBody   = `{"zen":"Keep it logically awesome.","hook_id":1}`
)

func hmacHex(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

// delivery builds the headers a provider sends for body, signed with secret.
func delivery(provider, event, body, secret string) http.Header {
	h := http.Header{}
	switch provider {
	case "github":
		h.Set("X-GitHub-Event", event)
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
	case "gitea":
		h.Set("X-Gitea-Event", event)
		h.Set("X-GitHub-Event", event)
		h.Set("X-Gitea-Signature", hmacHex(secret, body))
	case "gitea-hub":
		h.Set("X-Gitea-Event", event)
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
	case "gitlab":
		h.Set("X-Gitlab-Event", event)
		h.Set("X-Gitlab-Token", secret)
	}
	return h
}

func TestVerifyWebhook(t *testing.T) {
	mainEvent := func(provider, event string) WebhookEvent {
		return WebhookEvent{Provider: provider, Event: event, Ref: "refs/heads/main", After: "2222222222222222222222222222222222222222"}
	}
	without := func(h http.Header, key string) http.Header { h.Del(key); return h }
	for _, tc := range []struct {
		name    string
		header  http.Header
		body    string
		want    WebhookEvent
		wantErr error
		errText string
	}{
		{"github push", delivery("github", "push", pushMain, hookSecret), pushMain, mainEvent("github", "push"), nil, ""},
		{"gitea push", delivery("gitea", "push", pushMain, hookSecret), pushMain, mainEvent("gitea", "push"), nil, ""},
		{"gitea push signed like github", delivery("gitea-hub", "push", pushMain, hookSecret), pushMain, mainEvent("gitea", "push"), nil, ""},
		{"gitlab push", delivery("gitlab", "Push Hook", pushMain, hookSecret), pushMain, mainEvent("gitlab", "Push Hook"), nil, ""},
		{"github ping", delivery("github", "ping", pingBody, hookSecret), pingBody, WebhookEvent{Provider: "github", Event: "ping"}, nil, ""},
		{"gitlab other event", delivery("gitlab", "Merge Request Hook", `{"object_kind":"merge_request"}`, hookSecret), `{"object_kind":"merge_request"}`, WebhookEvent{Provider: "gitlab", Event: "Merge Request Hook"}, nil, ""},
		{"github push to dev", delivery("github", "push", pushDev, hookSecret), pushDev, WebhookEvent{Provider: "github", Event: "push", Ref: "refs/heads/dev", After: "3333333333333333333333333333333333333333"}, nil, ""},

		{"github tampered body", delivery("github", "push", pushMain, hookSecret), strings.Replace(pushMain, "main", "prod", 1), WebhookEvent{}, ErrWebhookUnverified, "does not match"},
		{"gitea tampered body", delivery("gitea", "push", pushMain, hookSecret), pushMain + " ", WebhookEvent{}, ErrWebhookUnverified, "X-Gitea-Signature does not match"},
		{"github wrong secret", delivery("github", "push", pushMain, "other"), pushMain, WebhookEvent{}, ErrWebhookUnverified, "does not match"},
		{"gitlab wrong token", delivery("gitlab", "Push Hook", pushMain, "other"), pushMain, WebhookEvent{}, ErrWebhookUnverified, "X-Gitlab-Token does not match"},
		{"gitlab token prefix", delivery("gitlab", "Push Hook", pushMain, hookSecret[:5]), pushMain, WebhookEvent{}, ErrWebhookUnverified, "does not match"},
		{"github unsigned", without(delivery("github", "push", pushMain, hookSecret), "X-Hub-Signature-256"), pushMain, WebhookEvent{}, ErrWebhookUnverified, "not signed"},
		{"gitea unsigned", without(delivery("gitea", "push", pushMain, hookSecret), "X-Gitea-Signature"), pushMain, WebhookEvent{}, ErrWebhookUnverified, "not signed"},
		{"gitlab no token", without(delivery("gitlab", "Push Hook", pushMain, hookSecret), "X-Gitlab-Token"), pushMain, WebhookEvent{}, ErrWebhookUnverified, "no X-Gitlab-Token"},
		{"github signature not hex", http.Header{"X-Github-Event": {"push"}, "X-Hub-Signature-256": {"sha256=zz"}}, pushMain, WebhookEvent{}, ErrWebhookUnverified, "not a hex"},
		{"github signature without sha256=", http.Header{"X-Github-Event": {"push"}, "X-Hub-Signature-256": {hmacHex(hookSecret, pushMain)}}, pushMain, WebhookEvent{}, ErrWebhookUnverified, "sha256="},
		{"github sha1 only", http.Header{"X-Github-Event": {"push"}, "X-Hub-Signature": {"sha1=" + strings.Repeat("0", 40)}}, pushMain, WebhookEvent{}, ErrWebhookUnverified, "not signed"},
		{"no provider", http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHex(hookSecret, pushMain)}}, pushMain, WebhookEvent{}, ErrWebhookMalformed, "X-GitHub-Event"},
		{"malformed JSON", delivery("github", "push", `{"ref":`, hookSecret), `{"ref":`, WebhookEvent{}, ErrWebhookMalformed, "not JSON"},
		{"push without ref", delivery("gitea", "push", `{"after":"x"}`, hookSecret), `{"after":"x"}`, WebhookEvent{}, ErrWebhookMalformed, `no "ref"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyWebhook(tc.header, []byte(tc.body), []byte(hookSecret))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error = %v, want %v containing %q", err, tc.wantErr, tc.errText)
				}
				if strings.Contains(err.Error(), hookSecret[:5]) || strings.Contains(err.Error(), hmacHex(hookSecret, tc.body)[:16]) {
					t.Fatalf("error %q shows the secret or the signature", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyWebhook: %v", err)
			}
			if got != tc.want {
				t.Fatalf("event = %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := VerifyWebhook(delivery("github", "push", pushMain, ""), []byte(pushMain), nil); !errors.Is(err, ErrWebhookUnverified) {
		t.Fatalf("with no secret: error = %v, want ErrWebhookUnverified", err)
	}
}

// recorder collects triggered events.
type recorder struct {
	mu     sync.Mutex
	events []WebhookEvent
}

func (r *recorder) trigger(ev WebhookEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}
func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.events) }

func TestWebhookHandler(t *testing.T) {
	secret := func() []byte { return []byte(hookSecret) }
	for _, tc := range []struct {
		name      string
		method    string
		header    http.Header
		body      string
		branch    string
		secret    func() []byte
		code      int
		triggered bool
		bodyHas   string
	}{
		{"push to the tracked branch", "POST", delivery("github", "push", pushMain, hookSecret), pushMain, "main", secret, 202, true, "refs/heads/main"},
		{"push, any branch tracked", "POST", delivery("gitea", "push", pushDev, hookSecret), pushDev, "", secret, 202, true, "refs/heads/dev"},
		{"push, branch given as a ref", "POST", delivery("gitlab", "Push Hook", pushMain, hookSecret), pushMain, "refs/heads/main", secret, 202, true, ""},
		{"push to another branch", "POST", delivery("github", "push", pushDev, hookSecret), pushDev, "main", secret, 200, false, "tracked branch is main"},
		{"tag push", "POST", delivery("github", "push", pushTag, hookSecret), pushTag, "", secret, 200, false, "not a branch"},
		{"ping", "POST", delivery("github", "ping", pingBody, hookSecret), pingBody, "main", secret, 200, false, "ignored"},
		{"bad signature", "POST", delivery("github", "push", pushMain, "wrong"), pushMain, "main", secret, 401, false, "does not match"},
		{"unsigned", "POST", http.Header{"X-Github-Event": {"push"}}, pushMain, "main", secret, 401, false, "not signed"},
		{"malformed JSON", "POST", delivery("github", "push", "{", hookSecret), "{", "main", secret, 400, false, "not JSON"},
		{"unknown provider", "POST", http.Header{}, pushMain, "main", secret, 400, false, "X-GitHub-Event"},
		{"oversized", "POST", delivery("github", "push", pushMain, hookSecret), pushMain + strings.Repeat(" ", MaxWebhookBody), "main", secret, 413, false, "larger than"},
		{"no secret", "POST", delivery("github", "push", pushMain, hookSecret), pushMain, "main", func() []byte { return nil }, 503, false, "swarmops repo set --webhook-secret-file FILE"},
		{"nil secret func", "POST", delivery("github", "push", pushMain, hookSecret), pushMain, "main", nil, 503, false, "no webhook secret"},
		{"GET", "GET", delivery("github", "push", pushMain, hookSecret), "", "main", secret, 405, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h := WebhookHandler(tc.secret, func() string { return tc.branch }, rec.trigger)
			req := httptest.NewRequest(tc.method, "/hooks/git", strings.NewReader(tc.body))
			req.Header = tc.header
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tc.code)
			}
			if (rec.count() == 1) != tc.triggered || rec.count() > 1 {
				t.Fatalf("triggered %d times, want triggered = %v", rec.count(), tc.triggered)
			}
			if !strings.Contains(w.Body.String(), tc.bodyHas) {
				t.Fatalf("body %q does not contain %q", w.Body, tc.bodyHas)
			}
			if strings.Contains(w.Body.String(), hookSecret) {
				t.Fatalf("body %q shows the secret", w.Body)
			}
		})
	}
}

func TestWebhookHandlerOverHTTP(t *testing.T) {
	events := make(chan WebhookEvent, 1)
	h := WebhookHandler(func() []byte { return []byte(hookSecret) }, func() string { return "main" },
		func(ev WebhookEvent) {
			select {
			case events <- ev:
			default:
			}
		})
	srv := httptest.NewServer(h)
	defer srv.Close()

	post := func(header http.Header, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(delivery("gitea", "push", pushMain, hookSecret), pushMain); code != http.StatusAccepted {
		t.Fatalf("push: %d %s", code, body)
	}
	select {
	case ev := <-events:
		if ev.Provider != "gitea" || ev.Ref != "refs/heads/main" || ev.After != "2222222222222222222222222222222222222222" {
			t.Fatalf("triggered with %+v", ev)
		}
	default:
		t.Fatal("an accepted push did not trigger")
	}
	if code, body := post(delivery("gitea", "push", pushMain, "wrong"), pushMain); code != http.StatusUnauthorized {
		t.Fatalf("badly signed push: %d %s", code, body)
	}
	if len(events) != 0 {
		t.Fatal("a badly signed push triggered")
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	for _, p := range []string{"github", "gitea", "gitea-hub", "gitlab"} {
		for _, body := range []string{pushMain, pingBody, `{"ref":1}`, `{`, ""} {
			h := delivery(p, "push", body, hookSecret)
			f.Add(p, "push", body, h.Get("X-Hub-Signature-256")+h.Get("X-Gitea-Signature")+h.Get("X-Gitlab-Token"))
		}
	}
	f.Fuzz(func(t *testing.T, provider, event, body, signature string) {
		h := http.Header{}
		switch provider {
		case "gitlab":
			h.Set("X-Gitlab-Event", event)
			h.Set("X-Gitlab-Token", signature)
		case "gitea":
			h.Set("X-Gitea-Event", event)
			h.Set("X-Gitea-Signature", signature)
		default:
			h.Set("X-GitHub-Event", event)
			h.Set("X-Hub-Signature-256", signature)
		}
		ev, err := VerifyWebhook(h, []byte(body), []byte(hookSecret))
		if err != nil {
			if ev != (WebhookEvent{}) {
				t.Fatalf("error %v with a non-empty event %+v", err, ev)
			}
			return
		}
		// Whatever verified must have carried the right signature.
		want := hmacHex(hookSecret, body)
		var signed bool
		switch provider {
		case "gitlab":
			signed = signature == hookSecret
		case "gitea":
			signed = strings.EqualFold(signature, want)
		default:
			hexSig, ok := strings.CutPrefix(signature, "sha256=")
			signed = ok && strings.EqualFold(hexSig, want)
		}
		if !signed {
			t.Fatalf("verified %+v with signature %q", ev, signature)
		}
	})
}
