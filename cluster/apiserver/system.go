package apiserver

import (
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"

	"github.com/swarmops/swarmops/cluster/store"
)

// ping answers GET and HEAD /_ping: the docker CLI negotiates its API
// version from the Api-Version header and reads the Swarm header.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Docker-Experimental", "false")
	h.Set("Swarm", string(swarm.LocalNodeStateActive)+"/manager")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	v := s.cfg.Version
	details := map[string]string{
		"ApiVersion":    v.APIVersion,
		"MinAPIVersion": v.MinAPIVersion,
		"Os":            v.OS,
		"Arch":          v.Arch,
		"GitCommit":     v.GitCommit,
		"GoVersion":     runtime.Version(),
		"Experimental":  "false",
	}
	if v.BuildTime != "" {
		details["BuildTime"] = v.BuildTime
	}
	if v.KernelVersion != "" {
		details["KernelVersion"] = v.KernelVersion
	}
	// The component is named "Engine" so that `docker version` prints it
	// in its usual form (under "Server: swarmops") instead of twice.
	out := types.Version{
		Components:    []types.ComponentVersion{{Name: "Engine", Version: v.Version, Details: details}},
		Version:       v.Version,
		APIVersion:    v.APIVersion,
		MinAPIVersion: v.MinAPIVersion,
		GitCommit:     v.GitCommit,
		GoVersion:     runtime.Version(),
		Os:            v.OS,
		Arch:          v.Arch,
		KernelVersion: v.KernelVersion,
		BuildTime:     v.BuildTime,
	}
	out.Platform.Name = "swarmops"
	writeJSON(w, http.StatusOK, out)
	return nil
}

// twoManagerWarning is the daemon's warning for a swarm that cannot lose a
// manager.
const twoManagerWarning = `WARNING: Running Swarm in a two-manager configuration. This configuration provides
         no fault tolerance, and poses a high risk to lose control over the cluster.
         Refer to https://docs.docker.com/engine/swarm/admin_guide/ to configure the
         Swarm for fault-tolerance.`

// info answers /info with what is true of a swarmops manager: no
// containers or images of its own, the node's description from the
// store, and the Swarm section `docker info` and `docker node ls` read
// (NodeID marks the current node with "*").
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	v := s.cfg.Version
	out := system.Info{
		ID:              s.cfg.NodeID,
		OSType:          v.OS,
		Architecture:    v.Arch,
		KernelVersion:   v.KernelVersion,
		OperatingSystem: "swarmops",
		ServerVersion:   v.Version,
		NCPU:            runtime.NumCPU(),
		SystemTime:      s.cfg.Now().UTC().Format("2006-01-02T15:04:05.999999999Z07:00"),
		Labels:          []string{},
		SecurityOptions: []string{},
		Warnings:        []string{},
	}
	out.Swarm = swarm.Info{
		NodeID:           s.cfg.NodeID,
		LocalNodeState:   swarm.LocalNodeStateActive,
		ControlAvailable: true,
	}
	servers, err := s.raft.Servers()
	if err != nil {
		out.Swarm.Error = err.Error()
	}
	for _, srv := range servers {
		out.Swarm.RemoteManagers = append(out.Swarm.RemoteManagers, swarm.Peer{NodeID: srv.ID, Addr: srv.Address})
		if srv.ID == s.cfg.NodeID {
			out.Swarm.NodeAddr = hostOf(srv.Address)
		}
	}
	err = s.view(func(tx store.ReadTx) error {
		if c, err := tx.Cluster(); err == nil {
			ci := clusterInfo(c)
			out.Swarm.Cluster = &ci
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		nodes, err := tx.Nodes()
		if err != nil {
			return err
		}
		out.Swarm.Nodes = len(nodes)
		managers := make(map[string]bool, len(servers))
		for _, srv := range servers {
			managers[srv.ID] = true
		}
		for _, n := range nodes {
			if managers[n.ID] {
				out.Swarm.Managers++
			}
			if n.ID != s.cfg.NodeID {
				continue
			}
			d := n.Description
			out.Name = d.Hostname
			if d.Resources.NanoCPUs > 0 {
				out.NCPU = int(d.Resources.NanoCPUs / 1e9)
			}
			out.MemTotal = d.Resources.MemoryBytes
			if d.Platform.Architecture != "" {
				out.Architecture = d.Platform.Architecture
			}
			if n.Status.Addr != "" {
				out.Swarm.NodeAddr = n.Status.Addr
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if out.Swarm.Managers == 2 {
		out.Swarm.Warnings = append(out.Swarm.Warnings, twoManagerWarning)
		out.Warnings = append(out.Warnings, twoManagerWarning)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// distributionInspect answers the docker CLI's image digest lookup before
// `service create` and `service update --image`. Managers do not reach
// registries, so it fails, and the CLI goes on with the tag and prints the
// same warning it prints against a Swarm manager without registry access.
func (s *Server) distributionInspect(w http.ResponseWriter, r *http.Request) error {
	name, ok := strings.CutSuffix(r.PathValue("name"), "/json")
	if !ok || name == "" {
		return notFound("page not found")
	}
	return errorf(http.StatusNotImplemented, "swarmops managers do not query registries: %s is not pinned to a digest, each node pulls it by its tag", name)
}
