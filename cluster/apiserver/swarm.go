package apiserver

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// clusterInfo renders the cluster record as Docker's ClusterInfo.
func clusterInfo(c *api.Cluster) swarm.ClusterInfo {
	ci := swarm.ClusterInfo{
		ID: c.ID,
		Meta: swarm.Meta{
			Version:   c.Version,
			CreatedAt: c.CreatedAt,
			UpdatedAt: c.UpdatedAt,
		},
		Spec:         c.Spec,
		TLSInfo:      swarm.TLSInfo{TrustRoot: c.CACert},
		SubnetSize:   24,
		DataPathPort: 4789,
	}
	if ci.Spec.Labels == nil {
		ci.Spec.Labels = map[string]string{}
	}
	if block, _ := pem.Decode([]byte(c.CACert)); block != nil {
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
			ci.TLSInfo.CertIssuerSubject = cert.RawSubject
			ci.TLSInfo.CertIssuerPublicKey = cert.RawSubjectPublicKeyInfo
		}
	}
	return ci
}

// readCluster returns the cluster record, or the daemon's answer for a
// node in no swarm.
func readCluster(tx store.ReadTx) (*api.Cluster, error) {
	c, err := tx.Cluster()
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusServiceUnavailable, "%s", noSwarmMessage)
	}
	return c, err
}

func (s *Server) inspectSwarm(w http.ResponseWriter, r *http.Request) error {
	var out swarm.Swarm
	err := s.view(func(tx store.ReadTx) error {
		c, err := readCluster(tx)
		if err != nil {
			return err
		}
		out = swarm.Swarm{ClusterInfo: clusterInfo(c), JoinTokens: c.JoinTokens}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// updateSwarm is `docker swarm update` and `docker swarm join-token
// --rotate`: a new spec at the version the client read, and token
// rotation. Autolock is not something swarmops does.
func (s *Server) updateSwarm(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.Spec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	version, err := queryVersion(r, "swarm")
	if err != nil {
		return err
	}
	rotateWorker, err := queryBool(r, "rotateWorkerToken")
	if err != nil {
		return err
	}
	rotateManager, err := queryBool(r, "rotateManagerToken")
	if err != nil {
		return err
	}
	rotateUnlock, err := queryBool(r, "rotateManagerUnlockKey")
	if err != nil {
		return err
	}
	if rotateUnlock || spec.EncryptionConfig.AutoLockManagers {
		return badRequest("swarmops does not lock managers: their keys are protected by the data directory's permissions, so there is no unlock key to rotate or enable")
	}
	if spec.CAConfig.NodeCertExpiry != 0 && spec.CAConfig.NodeCertExpiry < minCertExpiry {
		return invalidArgument("minimum certificate expiry time is: %s", minCertExpiry)
	}
	if spec.Dispatcher.HeartbeatPeriod < 0 {
		return invalidArgument("heartbeat period cannot be negative")
	}
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	var current *api.Cluster
	if err := s.view(func(tx store.ReadTx) error {
		var err error
		current, err = readCluster(tx)
		return err
	}); err != nil {
		return err
	}
	next, err := store.Clone(current)
	if err != nil {
		return err
	}
	next.Spec = spec
	tokens := ca.JoinTokens{Worker: next.JoinTokens.Worker, Manager: next.JoinTokens.Manager}
	if rotateWorker {
		if tokens, err = tokens.Rotate(ca.RoleWorker); err != nil {
			return err
		}
	}
	if rotateManager {
		if tokens, err = tokens.Rotate(ca.RoleManager); err != nil {
			return err
		}
	}
	next.JoinTokens = swarm.JoinTokens{Worker: tokens.Worker, Manager: tokens.Manager}
	if _, err := s.propose(w, r, store.Update(next, version)); err != nil {
		return storeWriteError("swarm", current.ID, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// minCertExpiry is Swarm's floor for node certificate validity.
const minCertExpiry = time.Hour

// Bootstrap and membership go through the swarmops CLI: a docker CLI
// running `docker swarm init/join/leave` against a manager is told so, in
// the daemon's words for a node already in a swarm.
func (s *Server) initSwarm(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusServiceUnavailable, "This node is already part of a swarm. A swarmops cluster is created with \"swarmops init\", not \"docker swarm init\".")
}

func (s *Server) joinSwarm(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusServiceUnavailable, "This node is already part of a swarm. Nodes join a swarmops cluster with \"swarmops join --token TOKEN MANAGER\" run on the joining node.")
}

func (s *Server) leaveSwarm(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusServiceUnavailable, "swarmops nodes do not leave through the Engine API: stop \"swarmops daemon\" on the node, then run \"docker node rm\" (demote a manager first).")
}

// unlockKey is empty, as the daemon's is when autolock is off.
func (s *Server) unlockKey(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, swarm.UnlockKeyResponse{})
	return nil
}

func (s *Server) unlockSwarm(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusConflict, "swarm is not locked")
}
