package apiserver

import (
	"encoding/base64"
	"maps"
	"net/http"

	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// sealRegistryAuth keeps the X-Registry-Auth header of a service create or
// update (`docker service create --with-registry-auth`) in spec, sealed
// under the cluster key as api.LabelRegistryAuth, so the nodes that pull
// the service's image get it from the dispatcher and nobody reads it back
// through the API. Without the header, an update keeps the credentials of
// the spec registryAuthFrom names (from, nil for a create).
func (s *Server) sealRegistryAuth(r *http.Request, spec *swarm.ServiceSpec, from *swarm.ServiceSpec) error {
	delete(spec.Labels, api.LabelRegistryAuth) // a client may not set it itself
	header := r.Header.Get(registry.AuthHeader)
	if header == "" || header == "e30=" { // "{}": the CLI's "no credentials"
		if from != nil && from.Labels[api.LabelRegistryAuth] != "" {
			setLabel(spec, from.Labels[api.LabelRegistryAuth])
		}
		return nil
	}
	if s.cfg.Sealer == nil {
		return errorf(http.StatusInternalServerError, "this manager cannot keep registry credentials: it has no cluster key")
	}
	sealed, err := s.cfg.Sealer.Seal([]byte(header))
	if err != nil {
		return errorf(http.StatusInternalServerError, "seal the registry credentials: %v", err)
	}
	setLabel(spec, base64.StdEncoding.EncodeToString(sealed))
	return nil
}

func setLabel(spec *swarm.ServiceSpec, v string) {
	spec.Labels = maps.Clone(spec.Labels)
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels[api.LabelRegistryAuth] = v
}

// hideRegistryAuth returns svc as the API shows it: without the sealed
// credentials in its spec and previous spec. svc's own maps are not
// touched.
func hideRegistryAuth(svc swarm.Service) swarm.Service {
	svc.Spec = hideInSpec(svc.Spec)
	if svc.PreviousSpec != nil {
		prev := hideInSpec(*svc.PreviousSpec)
		svc.PreviousSpec = &prev
	}
	return svc
}

func hideInSpec(spec swarm.ServiceSpec) swarm.ServiceSpec {
	if _, ok := spec.Labels[api.LabelRegistryAuth]; ok {
		spec.Labels = maps.Clone(spec.Labels)
		delete(spec.Labels, api.LabelRegistryAuth)
	}
	return spec
}
