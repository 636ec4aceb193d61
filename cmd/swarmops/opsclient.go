package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/cluster/manager"
)

// clusterFlags find the cluster a client command talks to, as `swarmops
// env` points the docker CLI at it: --data-dir DIR, else DOCKER_HOST and
// DOCKER_CERT_PATH when both are set, else the default data directory.
type clusterFlags struct {
	dataDir string
	cmd     *cobra.Command
}

func (f *clusterFlags) add(cmd *cobra.Command) {
	f.cmd = cmd
	addDataDirFlag(cmd, &f.dataDir)
}

// opsClient calls a manager's API (swarmops's own routes) with the CLI's
// client certificate.
type opsClient struct {
	base string
	http *http.Client
}

func (f *clusterFlags) client() (*opsClient, error) {
	var host, caFile, certFile, keyFile string
	envHost, envCerts := os.Getenv("DOCKER_HOST"), os.Getenv("DOCKER_CERT_PATH")
	if !f.cmd.Flags().Changed("data-dir") && os.Getenv("SWARMOPS_DATA_DIR") == "" && envHost != "" && envCerts != "" {
		host = strings.TrimPrefix(envHost, "tcp://")
		caFile, certFile, keyFile = filepath.Join(envCerts, "ca.pem"), filepath.Join(envCerts, "cert.pem"), filepath.Join(envCerts, "key.pem")
	} else {
		dir := manager.DataDir{Dir: f.dataDir}
		id, err := dir.LoadIdentity()
		if err != nil {
			return nil, fmt.Errorf("find the cluster: %w (pass --data-dir DIR, or eval \"$(swarmops env --data-dir DIR)\")", err)
		}
		certs := dir.Certs()
		host, caFile, certFile, keyFile = id.Advertise, certs.ClientCAFile(), certs.ClientCertFile(), certs.ClientKeyFile()
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("read the client certificate: %w", err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	return &opsClient{base: "https://" + host, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

// call sends in (if not nil) as JSON and decodes the answer into out (if
// not nil); an error answer becomes an error carrying its message.
func (c *opsClient) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the cluster at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s", e.Message)
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("read the answer of %s: %w", path, err)
		}
	}
	return nil
}
