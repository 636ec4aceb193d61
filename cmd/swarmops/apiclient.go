package main

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/swarmops/swarmops/cluster/manager"
)

// apiClient talks to a manager's Engine API with the CLI's client
// certificate, through Docker's own Go client.
type apiClient struct {
	*client.Client
	addr string
}

func newAPIClient(dataDir string) (*apiClient, error) {
	dir := manager.DataDir{Dir: dataDir}
	id, err := dir.LoadIdentity()
	if err != nil {
		return nil, err
	}
	certs := dir.Certs()
	cli, err := client.NewClientWithOpts(
		client.WithHost("tcp://"+id.Advertise),
		client.WithTLSClientConfig(certs.ClientCAFile(), certs.ClientCertFile(), certs.ClientKeyFile()),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", id.Advertise, err)
	}
	return &apiClient{Client: cli, addr: id.Advertise}, nil
}

// rotateToken replaces the role's join token, as `docker swarm join-token
// --rotate` does.
func (c *apiClient) rotateToken(ctx context.Context, role string) error {
	sw, err := c.SwarmInspect(ctx)
	if err != nil {
		return fmt.Errorf("rotate %s token: %w", role, err)
	}
	flags := swarm.UpdateFlags{RotateWorkerToken: role == "worker", RotateManagerToken: role == "manager"}
	if err := c.SwarmUpdate(ctx, sw.Version, sw.Spec, flags); err != nil {
		return fmt.Errorf("rotate %s token: %w", role, err)
	}
	return nil
}
