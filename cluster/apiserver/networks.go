package apiserver

import (
	"errors"
	"net/http"
	"net/netip"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// Network names a local Docker engine owns; Swarm refuses to create swarm
// networks under them.
var predefinedNetworks = map[string]bool{"bridge": true, "host": true, "none": true, "default": true}

// createNetwork is `docker network create -d overlay`: the only driver
// swarmops networks have. Subnets are kept as asked; the allocator
// assigns what is not given (see doc.go).
func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if predefinedNetworks[req.Name] {
		return errorf(http.StatusForbidden, "%s is a pre-defined network and cannot be created", req.Name)
	}
	if err := validateName(req.Name); err != nil {
		return err
	}
	switch req.Driver {
	case "", "overlay":
	default:
		return badRequest("swarmops networks use the overlay driver; %q networks are local to one engine and cannot be created on the swarm", req.Driver)
	}
	switch req.Scope {
	case "", "swarm":
	default:
		return badRequest("swarmops networks are swarm-scoped; scope %q cannot be created on the swarm", req.Scope)
	}
	if req.Ingress {
		return badRequest("swarmops manages the ingress network itself; create a network without --ingress")
	}
	if req.ConfigOnly || (req.ConfigFrom != nil && req.ConfigFrom.Network != "") {
		return badRequest("config-only networks are local to one engine and are not supported on the swarm")
	}
	ipam := network.IPAM{Driver: "default"}
	if req.IPAM != nil {
		ipam = *req.IPAM
		if ipam.Driver == "" {
			ipam.Driver = "default"
		}
		if len(ipam.Options) == 0 {
			ipam.Options = nil
		}
		for _, c := range ipam.Config {
			if err := validateIPAM(c); err != nil {
				return err
			}
		}
	}
	if ipam.Config == nil {
		ipam.Config = []network.IPAMConfig{}
	}
	nw := &network.Inspect{
		ID:         store.NewID(),
		Name:       req.Name,
		Scope:      "swarm",
		Driver:     "overlay",
		EnableIPv4: req.EnableIPv4 == nil || *req.EnableIPv4,
		EnableIPv6: req.EnableIPv6 != nil && *req.EnableIPv6,
		IPAM:       ipam,
		Internal:   req.Internal,
		Attachable: req.Attachable,
		Options:    req.Options,
		Labels:     req.Labels,
	}
	if len(nw.Options) == 0 {
		nw.Options = nil
	}
	if len(nw.Labels) == 0 {
		nw.Labels = nil
	}
	if _, err := s.propose(w, r, store.Create(nw)); err != nil {
		if errors.Is(err, store.ErrNameConflict) {
			return errorf(http.StatusConflict, "network with name %s already exists", req.Name)
		}
		return storeWriteError("network", req.Name, err)
	}
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: nw.ID})
	return nil
}

func validateIPAM(c network.IPAMConfig) error {
	if c.Subnet == "" {
		return nil
	}
	subnet, err := netip.ParsePrefix(c.Subnet)
	if err != nil {
		return invalidArgument("ipam configuration: invalid subnet %s", c.Subnet)
	}
	if c.IPRange != "" {
		rng, err := netip.ParsePrefix(c.IPRange)
		if err != nil {
			return invalidArgument("ipam configuration: invalid range %s", c.IPRange)
		}
		if !subnet.Contains(rng.Addr()) || rng.Bits() < subnet.Bits() {
			return invalidArgument("ipam configuration: subnet %s does not contain range %s", c.Subnet, c.IPRange)
		}
	}
	if c.Gateway != "" {
		gw, err := netip.ParseAddr(c.Gateway)
		if err != nil {
			return invalidArgument("ipam configuration: invalid gateway %s", c.Gateway)
		}
		if !subnet.Contains(gw) {
			return invalidArgument("ipam configuration: subnet %s does not contain gateway %s", c.Subnet, c.Gateway)
		}
	}
	return nil
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) error {
	args, err := parseFilters(r, "dangling", "driver", "id", "label", "name", "scope", "type")
	if err != nil {
		return err
	}
	danglingOnly, byUse := false, false
	if d := args.Get("dangling"); len(d) > 0 {
		if len(d) > 1 {
			return badRequest(`got more than one value for filter key "dangling"`)
		}
		switch d[0] {
		case "0", "false":
		case "1", "true":
			danglingOnly = true
		default:
			return badRequest(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
		}
		byUse = true
	}
	for _, t := range args.Get("type") {
		if t != "custom" && t != "builtin" {
			return badRequest("invalid filter 'type=[%s]'", t)
		}
	}
	out := []network.Inspect{}
	err = s.view(func(tx store.ReadTx) error {
		networks, err := tx.Networks()
		if err != nil {
			return err
		}
		for _, nw := range networks {
			if (args.Contains("driver") && !args.ExactMatch("driver", nw.Driver)) ||
				(args.Contains("name") && !args.Match("name", nw.Name)) ||
				(args.Contains("id") && !args.Match("id", nw.ID)) ||
				(args.Contains("label") && !args.MatchKVList("label", nw.Labels)) ||
				(args.Contains("scope") && !args.ExactMatch("scope", nw.Scope)) ||
				(args.Contains("type") && !args.ExactMatch("type", "custom")) {
				continue
			}
			if byUse {
				users, err := servicesOnNetwork(tx, nw)
				if err != nil {
					return err
				}
				if (len(users) == 0) != danglingOnly {
					continue
				}
			}
			out = append(out, *nw)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// servicesOnNetwork lists the services attached to nw, whether their spec
// names it by ID or by name.
func servicesOnNetwork(tx store.ReadTx, nw *network.Inspect) ([]*swarm.Service, error) {
	byID, err := tx.ServicesUsingNetwork(nw.ID)
	if err != nil {
		return nil, err
	}
	byName, err := tx.ServicesUsingNetwork(nw.Name)
	if err != nil {
		return nil, err
	}
	return append(byID, byName...), nil
}

func (s *Server) inspectNetwork(w http.ResponseWriter, r *http.Request) error {
	var out network.Inspect
	err := s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableNetworks, "network", r.PathValue("id"))
		if err != nil {
			return err
		}
		nw, err := tx.Network(id)
		if err != nil {
			return err
		}
		out = *nw
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) removeNetwork(w http.ResponseWriter, r *http.Request) error {
	var id string
	err := s.view(func(tx store.ReadTx) error {
		var err error
		if id, err = resolve(tx, store.TableNetworks, "network", r.PathValue("id")); err != nil {
			return err
		}
		nw, err := tx.Network(id)
		if err != nil {
			return err
		}
		users, err := servicesOnNetwork(tx, nw)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return failedPrecondition("network %s is in use by service %s", id, users[0].ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, store.Delete(store.TableNetworks, id, 0)); err != nil {
		if errors.Is(err, store.ErrInUse) {
			// A service attached after the check above; name it.
			users, verr := s.networkUsers(id)
			if verr != nil || len(users) == 0 {
				return failedPrecondition("network %s is in use by a service", id)
			}
			return failedPrecondition("network %s is in use by service %s", id, users[0].ID)
		}
		return storeWriteError("network", id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) networkUsers(id string) ([]*swarm.Service, error) {
	var users []*swarm.Service
	err := s.view(func(tx store.ReadTx) error {
		nw, err := tx.Network(id)
		if err != nil {
			return err
		}
		users, err = servicesOnNetwork(tx, nw)
		return err
	})
	return users, err
}
