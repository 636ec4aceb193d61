package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// handlerFunc serves one route; a returned error is answered in Docker's
// error form.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type route struct {
	method string
	path   string
	h      handlerFunc
	// write routes change the state: a follower forwards them to the
	// leader.
	write bool
	// join routes are the only ones join connections reach, and only
	// they (or a manager forwarding one) may call them.
	join bool
	// internal routes are the leader's own loops': served in process
	// (InProcess) only, and to anyone else as if they did not exist.
	internal bool
	// local routes are answered by whichever manager receives them; every
	// other route is the leader's, as in Swarm, where followers proxy the
	// control API to the leader: reads are never stale and Raft
	// reachability is the leader's complete view.
	local bool
}

// inProcessOnly marks a route as internal.
func inProcessOnly(rt route) route { rt.internal = true; return rt }

// served marks a route as answered by every manager itself.
func served(rt route) route { rt.local = true; return rt }

func get(path string, h handlerFunc) route { return route{method: http.MethodGet, path: path, h: h} }
func post(path string, h handlerFunc) route {
	return route{method: http.MethodPost, path: path, h: h, write: true}
}
func del(path string, h handlerFunc) route {
	return route{method: http.MethodDelete, path: path, h: h, write: true}
}

// routeTable lists every route. Engine API routes are also served under
// /v{version}; swarmops's own live under /swarmops/v1 only.
func (s *Server) routeTable() []route {
	join := post("/swarmops/v1/join", s.joinNode)
	join.join = true
	return []route{
		served(get("/_ping", s.ping)),
		served(get("/version", s.version)),
		served(get("/info", s.info)),
		served(get("/distribution/{name...}", s.distributionInspect)),

		get("/swarm", s.inspectSwarm),
		post("/swarm/update", s.updateSwarm),
		post("/swarm/init", s.initSwarm),
		post("/swarm/join", s.joinSwarm),
		post("/swarm/leave", s.leaveSwarm),
		get("/swarm/unlockkey", s.unlockKey),
		post("/swarm/unlock", s.unlockSwarm),

		get("/nodes", s.listNodes),
		get("/nodes/{id}", s.inspectNode),
		post("/nodes/{id}/update", s.updateNode),
		del("/nodes/{id}", s.removeNode),

		get("/services", s.listServices),
		post("/services/create", s.createService),
		get("/services/{id}", s.inspectService),
		post("/services/{id}/update", s.updateService),
		del("/services/{id}", s.removeService),
		get("/services/{id}/logs", s.serviceLogs),

		get("/tasks", s.listTasks),
		get("/tasks/{id}", s.inspectTask),
		get("/tasks/{id}/logs", s.taskLogs),

		get("/secrets", s.listSecrets),
		post("/secrets/create", s.createSecret),
		get("/secrets/{id}", s.inspectSecret),
		post("/secrets/{id}/update", s.updateSecret),
		del("/secrets/{id}", s.removeSecret),

		get("/configs", s.listConfigs),
		post("/configs/create", s.createConfig),
		get("/configs/{id}", s.inspectConfig),
		post("/configs/{id}/update", s.updateConfig),
		del("/configs/{id}", s.removeConfig),

		get("/networks", s.listNetworks),
		post("/networks/create", s.createNetwork),
		get("/networks/{id}", s.inspectNetwork),
		del("/networks/{id}", s.removeNetwork),

		served(get("/swarmops/v1/status", s.status)),
		get("/swarmops/v1/stacks", s.listStacks),
		get("/swarmops/v1/stacks/{name}", s.inspectStack),
		inProcessOnly(post("/swarmops/v1/stacks/{name}/record", s.putStackRecord)),
		inProcessOnly(del("/swarmops/v1/stacks/{name}/record", s.removeStackRecord)),
		post("/swarmops/v1/stacks/{name}/retry", s.retryStack),
		post("/swarmops/v1/stacks/{name}/resume", s.resumeStack),
		post("/swarmops/v1/stacks/{name}/rollback", s.rollbackStack),
		post("/swarmops/v1/sync", s.sync),
		post("/swarmops/v1/repo", s.setRepo),
		get("/swarmops/v1/report", s.report),
		get("/swarmops/v1/state", s.state),
		join,
	}
}

type ctxKey int

const (
	versionKey ctxKey = iota
	origPathKey
	callerKey
)

var versionPrefix = regexp.MustCompile(`^/v([0-9]+(?:\.[0-9]+)*)(/.*)$`)

// serveHTTP strips the /v{version} prefix, checks the version, finds the
// route and hands over to it (wrap does authentication, forwarding and
// errors). A panic anywhere below is answered with 500, not a dropped
// connection.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("api handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			s.writeError(w, r, errorf(http.StatusInternalServerError, "internal error: %v", p))
		}
	}()
	v := &s.cfg.Version
	w.Header().Set("Api-Version", v.APIVersion)
	w.Header().Set("Server", fmt.Sprintf("swarmops/%s (%s)", v.Version, v.OS))
	w.Header().Set("Ostype", v.OS)

	orig := r.URL.Path
	version := v.APIVersion
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil && !strings.HasPrefix(r.URL.Path, "/swarmops/") {
		version = m[1]
		r.URL.Path, r.URL.RawPath = m[2], ""
		if err := checkVersion(version, v.MinAPIVersion, v.APIVersion); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ctx := context.WithValue(r.Context(), versionKey, version)
	ctx = context.WithValue(ctx, origPathKey, orig)
	r = r.WithContext(ctx)
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeJSON(w, http.StatusNotFound, struct {
			Message string `json:"message"`
		}{"page not found"})
		return
	}
	s.mux.ServeHTTP(w, r)
}

func checkVersion(version, minVersion, maxVersion string) error {
	if api.CompareVersions(version, minVersion) < 0 {
		return badRequest("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, minVersion)
	}
	if api.CompareVersions(version, maxVersion) > 0 {
		return badRequest("client version %s is too new. Maximum supported API version is %s", version, maxVersion)
	}
	return nil
}

// apiVersion is the version the request asked for (the newest when the
// path carried none).
func apiVersion(r *http.Request) string {
	v, _ := r.Context().Value(versionKey).(string)
	return v
}

// wrap runs a route: authenticate and authorize the caller, bound the
// body, hand the leader's routes to the leader, and answer errors.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, inProcess := inProcessCaller(r); rt.internal && !inProcess {
			writeJSON(w, http.StatusNotFound, struct {
				Message string `json:"message"`
			}{"page not found"})
			return
		}
		c, err := s.callerFor(r)
		if err == nil {
			err = authorize(rt, c)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey, c))
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		if !rt.local && !rt.join && s.demoted() {
			s.writeError(w, r, errorf(http.StatusServiceUnavailable, "%s", notManagerMessage))
			return
		}
		if !rt.local && !s.raft.IsLeader() {
			s.forwardToLeader(w, r)
			return
		}
		if err := rt.h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// callerFor is who sent r: the in-process caller, or whom its TLS
// connection proves.
func (s *Server) callerFor(r *http.Request) (Caller, error) {
	if c, ok := inProcessCaller(r); ok {
		return c, nil
	}
	return s.authenticate(r)
}

// demoted reports whether the cluster has made this manager a worker: its
// API then answers as a worker's daemon does, even while it still holds a
// copy of the state.
func (s *Server) demoted() bool {
	demoted := false
	_ = s.store.View(func(tx store.ReadTx) error {
		if n, err := tx.Node(s.cfg.NodeID); err == nil {
			demoted = n.Spec.Role != swarm.NodeRoleManager
		}
		return nil
	})
	return demoted
}
