package apiserver

import (
	"encoding/json"
	"net/http"
)

// WorkerHandler is what a worker answers on its address: it holds no
// cluster state, so every request gets Swarm's "not a swarm manager" error
// (503), except /_ping, so that the docker CLI reaches the point of
// printing that error rather than failing to connect. Callers serve it
// with the node's certificate and require cluster client certificates.
func WorkerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if versionPrefix.ReplaceAllString(r.URL.Path, "$2") == "/_ping" {
			w.Header().Set("Swarm", "active/worker")
			w.Header().Set("API-Version", DefaultAPIVersion)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				w.Write([]byte("OK"))
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"message": notManagerMessage})
	})
}
