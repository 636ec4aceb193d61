package reconciler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/swarmops/swarmops/api"
)

// Writer is how the reconciler changes the cluster. On a manager it is the
// Engine API served in process (NewAPIWriter), so the reconciler's writes
// pass the checks, allocation and audit every client's do; objects are
// named, not identified, as in a stack file.
type Writer interface {
	CreateNetwork(ctx context.Context, name string, req network.CreateRequest) error
	RemoveNetwork(ctx context.Context, name string) error
	CreateSecret(ctx context.Context, spec swarm.SecretSpec) error
	RemoveSecret(ctx context.Context, name string) error
	CreateConfig(ctx context.Context, spec swarm.ConfigSpec) error
	RemoveConfig(ctx context.Context, name string) error
	CreateService(ctx context.Context, spec swarm.ServiceSpec) error
	// UpdateService replaces the spec of the service id, provided it is
	// still at version.
	UpdateService(ctx context.Context, id string, version uint64, spec swarm.ServiceSpec) error
	RemoveService(ctx context.Context, name string) error
	// PutStack writes a stack's record: it creates it when
	// st.Version.Index is 0, else replaces it if still at that version.
	PutStack(ctx context.Context, st *api.Stack) error
	RemoveStack(ctx context.Context, name string) error
}

// apiWriter is Writer over the Engine API.
type apiWriter struct {
	c    *client.Client
	http *http.Client
}

// NewAPIWriter is a Writer that sends its changes through rt to a
// swarmops manager's API (an apiserver.Server's InProcess transport on
// the leader).
func NewAPIWriter(rt http.RoundTripper) (Writer, error) {
	hc := &http.Client{Transport: rt}
	c, err := client.NewClientWithOpts(client.WithHost("http://swarmops.invalid"), client.WithHTTPClient(hc), client.WithVersion("1.41"))
	if err != nil {
		return nil, fmt.Errorf("reconciler: API client: %w", err)
	}
	return &apiWriter{c: c, http: hc}, nil
}

func (w *apiWriter) CreateNetwork(ctx context.Context, name string, req network.CreateRequest) error {
	_, err := w.c.NetworkCreate(ctx, name, req.CreateOptions)
	return wrapWrite("create network", name, err)
}

func (w *apiWriter) RemoveNetwork(ctx context.Context, name string) error {
	return wrapWrite("remove network", name, w.c.NetworkRemove(ctx, name))
}

func (w *apiWriter) CreateSecret(ctx context.Context, spec swarm.SecretSpec) error {
	_, err := w.c.SecretCreate(ctx, spec)
	return wrapWrite("create secret", spec.Name, err)
}

func (w *apiWriter) RemoveSecret(ctx context.Context, name string) error {
	return wrapWrite("remove secret", name, w.c.SecretRemove(ctx, name))
}

func (w *apiWriter) CreateConfig(ctx context.Context, spec swarm.ConfigSpec) error {
	_, err := w.c.ConfigCreate(ctx, spec)
	return wrapWrite("create config", spec.Name, err)
}

func (w *apiWriter) RemoveConfig(ctx context.Context, name string) error {
	return wrapWrite("remove config", name, w.c.ConfigRemove(ctx, name))
}

func (w *apiWriter) CreateService(ctx context.Context, spec swarm.ServiceSpec) error {
	spec, err := w.withRefIDs(ctx, spec)
	if err == nil {
		_, err = w.c.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	}
	return wrapWrite("create service", spec.Name, err)
}

func (w *apiWriter) UpdateService(ctx context.Context, id string, version uint64, spec swarm.ServiceSpec) error {
	spec, err := w.withRefIDs(ctx, spec)
	if err == nil {
		_, err = w.c.ServiceUpdate(ctx, id, swarm.Version{Index: version}, spec, swarm.ServiceUpdateOptions{})
	}
	return wrapWrite("update service", spec.Name, err)
}

// withRefIDs fills the IDs of the secrets and configs spec names, as the
// docker CLI looks them up before it sends a service: a stack file names
// them, the Engine API wants both. The references are copied; spec's own
// (a cached rendering's) stay as they are.
func (w *apiWriter) withRefIDs(ctx context.Context, spec swarm.ServiceSpec) (swarm.ServiceSpec, error) {
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil || len(cs.Secrets)+len(cs.Configs) == 0 {
		return spec, nil
	}
	secrets, err := w.c.SecretList(ctx, swarm.SecretListOptions{})
	if err != nil {
		return spec, fmt.Errorf("list secrets: %w", err)
	}
	configs, err := w.c.ConfigList(ctx, swarm.ConfigListOptions{})
	if err != nil {
		return spec, fmt.Errorf("list configs: %w", err)
	}
	secretIDs, configIDs := map[string]string{}, map[string]string{}
	for _, s := range secrets {
		secretIDs[s.Spec.Name] = s.ID
	}
	for _, c := range configs {
		configIDs[c.Spec.Name] = c.ID
	}
	c := *cs
	c.Secrets = make([]*swarm.SecretReference, len(cs.Secrets))
	for i, ref := range cs.Secrets {
		r := *ref
		if r.SecretID == "" {
			if r.SecretID = secretIDs[r.SecretName]; r.SecretID == "" {
				return spec, fmt.Errorf("secret %s not found: declare it in the stack, or create it (`docker secret create`) if it is external", r.SecretName)
			}
		}
		c.Secrets[i] = &r
	}
	c.Configs = make([]*swarm.ConfigReference, len(cs.Configs))
	for i, ref := range cs.Configs {
		r := *ref
		if r.ConfigID == "" && r.Runtime == nil {
			if r.ConfigID = configIDs[r.ConfigName]; r.ConfigID == "" {
				return spec, fmt.Errorf("config %s not found: declare it in the stack, or create it (`docker config create`) if it is external", r.ConfigName)
			}
		}
		c.Configs[i] = &r
	}
	spec.TaskTemplate.ContainerSpec = &c
	return spec, nil
}

func (w *apiWriter) RemoveService(ctx context.Context, name string) error {
	return wrapWrite("remove service", name, w.c.ServiceRemove(ctx, name))
}

func (w *apiWriter) PutStack(ctx context.Context, st *api.Stack) error {
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("write stack %s: %w", st.Name, err)
	}
	path := "/swarmops/v1/stacks/" + url.PathEscape(st.Name) + "/record?version=" + strconv.FormatUint(st.Version.Index, 10)
	return w.do(ctx, http.MethodPost, path, body, "write stack "+st.Name)
}

func (w *apiWriter) RemoveStack(ctx context.Context, name string) error {
	return w.do(ctx, http.MethodDelete, "/swarmops/v1/stacks/"+url.PathEscape(name)+"/record", nil, "remove stack "+name)
}

func (w *apiWriter) do(ctx context.Context, method, path string, body []byte, what string) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://swarmops.invalid"+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(msg, &e) == nil && e.Message != "" {
		msg = []byte(e.Message)
	}
	return fmt.Errorf("%s: %s (HTTP %d)", what, bytes.TrimSpace(msg), resp.StatusCode)
}

func wrapWrite(what, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", what, name, err)
}
