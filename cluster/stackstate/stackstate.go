// Package stackstate reads what a cluster runs for each stack, in the form
// a stack file renders to (api.StackSpec), so that stackspec.Diff can
// compare git with the cluster: the reconciler plans with it, and the API
// serves it to `swarmops plan`.
package stackstate

import (
	"maps"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// Stack is what the cluster runs for stack name: every service, network,
// secret and config labelled with it. Secret and config data never leave
// the store, so theirs are nil (stackspec.Diff then compares names and
// labels only). An unknown stack is an empty spec, not an error.
func Stack(tx store.ReadTx, name string) (*api.StackSpec, error) {
	out := &api.StackSpec{
		Namespace: name,
		Services:  map[string]swarm.ServiceSpec{},
		Networks:  map[string]network.CreateRequest{},
		Secrets:   map[string]swarm.SecretSpec{},
		Configs:   map[string]swarm.ConfigSpec{},
	}
	services, err := tx.ServicesByStack(name)
	if err != nil {
		return nil, err
	}
	for _, s := range services {
		out.Services[s.Spec.Name] = namedNetworks(tx, ServiceSpec(s.Spec))
	}
	networks, err := tx.NetworksByStack(name)
	if err != nil {
		return nil, err
	}
	for _, n := range networks {
		out.Networks[n.Name] = NetworkRequest(n)
	}
	secrets, err := tx.SecretsByStack(name)
	if err != nil {
		return nil, err
	}
	for _, s := range secrets {
		spec := s.Spec
		spec.Data = nil
		out.Secrets[spec.Name] = spec
	}
	configs, err := tx.ConfigsByStack(name)
	if err != nil {
		return nil, err
	}
	for _, c := range configs {
		spec := c.Spec
		spec.Data = nil
		out.Configs[spec.Name] = spec
	}
	return out, nil
}

// All is Stack for every stack any object on the cluster is labelled with.
func All(tx store.ReadTx) (map[string]*api.StackSpec, error) {
	names := map[string]bool{}
	services, err := tx.Services()
	if err != nil {
		return nil, err
	}
	for _, s := range services {
		names[s.Spec.Labels[api.LabelNamespace]] = true
	}
	networks, err := tx.Networks()
	if err != nil {
		return nil, err
	}
	for _, n := range networks {
		names[n.Labels[api.LabelNamespace]] = true
	}
	secrets, err := tx.Secrets()
	if err != nil {
		return nil, err
	}
	for _, s := range secrets {
		names[s.Spec.Labels[api.LabelNamespace]] = true
	}
	configs, err := tx.Configs()
	if err != nil {
		return nil, err
	}
	for _, c := range configs {
		names[c.Spec.Labels[api.LabelNamespace]] = true
	}
	delete(names, "")
	out := make(map[string]*api.StackSpec, len(names))
	for name := range names {
		if out[name], err = Stack(tx, name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ServiceSpec is a live service's spec as git would write it: without the
// labels the cluster adds itself (the sealed registry credentials of
// --with-registry-auth).
func ServiceSpec(spec swarm.ServiceSpec) swarm.ServiceSpec {
	if _, ok := spec.Labels[api.LabelRegistryAuth]; ok {
		spec.Labels = maps.Clone(spec.Labels)
		delete(spec.Labels, api.LabelRegistryAuth)
	}
	return spec
}

// namedNetworks writes the network attachments of spec with network
// names, as a stack file does: the API stores the IDs it resolved them to.
func namedNetworks(tx store.ReadTx, spec swarm.ServiceSpec) swarm.ServiceSpec {
	rename := func(nets []swarm.NetworkAttachmentConfig) []swarm.NetworkAttachmentConfig {
		if len(nets) == 0 {
			return nets
		}
		out := make([]swarm.NetworkAttachmentConfig, len(nets))
		for i, n := range nets {
			if nw, err := tx.Network(n.Target); err == nil {
				n.Target = nw.Name
			}
			out[i] = n
		}
		return out
	}
	spec.TaskTemplate.Networks = rename(spec.TaskTemplate.Networks)
	//lint:ignore SA1019 older clients still send the service-level list.
	spec.Networks = rename(spec.Networks)
	return spec
}

// NetworkRequest is the create request a live network answers.
func NetworkRequest(n *network.Inspect) network.CreateRequest {
	ipv4, ipv6 := n.EnableIPv4, n.EnableIPv6
	ipam := n.IPAM
	var req network.CreateRequest
	req.Driver, req.Scope = n.Driver, n.Scope
	req.EnableIPv4, req.EnableIPv6 = &ipv4, &ipv6
	req.IPAM = &ipam
	req.Internal, req.Attachable = n.Internal, n.Attachable
	req.Options, req.Labels = n.Options, n.Labels
	return req
}
