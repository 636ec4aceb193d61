package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWorkerHandler(t *testing.T) {
	h := WorkerHandler()
	for _, path := range []string{"/_ping", "/v1.41/_ping"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || rec.Body.String() != "OK" || rec.Header().Get("Swarm") != "active/worker" {
			t.Errorf("GET %s: %d %q Swarm=%q; want 200 OK from an active worker", path, rec.Code, rec.Body, rec.Header().Get("Swarm"))
		}
	}
	for _, path := range []string{"/v1.41/services", "/nodes", "/v1.41/info"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body struct{ Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusServiceUnavailable || body.Message != notManagerMessage {
			t.Errorf("GET %s: %d %s; want 503 with Swarm's not-a-manager message", path, rec.Code, rec.Body)
		}
	}
}
