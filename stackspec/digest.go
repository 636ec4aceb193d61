package stackspec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// Digest is a stable hash ("sha256:<hex>") of the normalised service spec:
// independent of map order and of defaults written out or left implicit.
func Digest(spec swarm.ServiceSpec) string {
	return digestJSON(Normalize(spec))
}

// DigestStack hashes a whole stack spec (services, networks, secrets and
// configs with their data) for a Revision's digest. Warnings are left out:
// they describe the stack file, not what the cluster is asked for.
func DigestStack(s *api.StackSpec) string {
	if s == nil {
		s = &api.StackSpec{}
	}
	// A struct of its own fixes the hashed shape, so a new field in
	// api.StackSpec changes digests only when it is added here.
	type stackDigest struct {
		Namespace string
		Services  map[string]swarm.ServiceSpec
		Networks  map[string]network.CreateRequest
		Secrets   map[string]swarm.SecretSpec
		Configs   map[string]swarm.ConfigSpec
	}
	d := stackDigest{
		Namespace: s.Namespace,
		Services:  make(map[string]swarm.ServiceSpec, len(s.Services)),
		Networks:  make(map[string]network.CreateRequest, len(s.Networks)),
		Secrets:   make(map[string]swarm.SecretSpec, len(s.Secrets)),
		Configs:   make(map[string]swarm.ConfigSpec, len(s.Configs)),
	}
	for name, spec := range s.Services {
		d.Services[name] = Normalize(spec)
	}
	for name, spec := range s.Networks {
		d.Networks[name] = normalizeNetwork(spec)
	}
	for name, spec := range s.Secrets {
		d.Secrets[name] = normalizeSecret(spec)
	}
	for name, spec := range s.Configs {
		d.Configs[name] = normalizeConfig(spec)
	}
	return digestJSON(d)
}

// digestJSON hashes v's JSON form; encoding/json writes map keys sorted, so
// the bytes do not depend on map iteration order.
func digestJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// The Engine API types always marshal; failing here is a bug.
		panic(fmt.Sprintf("stackspec: marshal spec for digest: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
