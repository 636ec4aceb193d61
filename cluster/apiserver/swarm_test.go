package apiserver

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/ca"
)

func TestSwarmInspectAndTokenRotation(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cli := h.docker(m, cert)
	ctx := context.Background()
	sw, err := cli.SwarmInspect(ctx)
	if err != nil {
		t.Fatalf("SwarmInspect: %v", err)
	}
	if sw.ID == "" || sw.Version.Index == 0 || sw.Spec.Name != "default" || sw.Spec.Labels == nil {
		t.Errorf("swarm: %+v", sw.ClusterInfo)
	}
	block, _ := pem.Decode([]byte(sw.TLSInfo.TrustRoot))
	if block == nil {
		t.Fatalf("TrustRoot is not PEM: %q", sw.TLSInfo.TrustRoot)
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil || string(sw.TLSInfo.CertIssuerSubject) != string(root.RawSubject) {
		t.Errorf("TLS info does not describe the root: %v", err)
	}
	for _, tok := range []string{sw.JoinTokens.Worker, sw.JoinTokens.Manager} {
		if p, err := ca.ParseToken(tok); err != nil || p.CADigest != h.pki.root.Digest() {
			t.Errorf("token %q: %v", tok, err)
		}
	}

	// `docker swarm join-token --rotate worker`
	if err := cli.SwarmUpdate(ctx, sw.Version, sw.Spec, swarm.UpdateFlags{RotateWorkerToken: true}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	after, _ := cli.SwarmInspect(ctx)
	if after.JoinTokens.Worker == sw.JoinTokens.Worker || after.JoinTokens.Manager != sw.JoinTokens.Manager {
		t.Errorf("rotation: worker changed %v, manager changed %v", after.JoinTokens.Worker != sw.JoinTokens.Worker, after.JoinTokens.Manager != sw.JoinTokens.Manager)
	}
	if p, err := ca.ParseToken(after.JoinTokens.Worker); err != nil || p.CADigest != h.pki.root.Digest() {
		t.Errorf("rotated token %v", err)
	}
	// The old version is stale now.
	wantErr(t, cli.SwarmUpdate(ctx, sw.Version, sw.Spec, swarm.UpdateFlags{RotateManagerToken: true}), "update out of sequence")

	// `docker swarm update --task-history-limit 10`
	spec := after.Spec
	spec.Orchestration.TaskHistoryRetentionLimit = ptr(int64(10))
	if err := cli.SwarmUpdate(ctx, after.Version, spec, swarm.UpdateFlags{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	after2, _ := cli.SwarmInspect(ctx)
	if l := after2.Spec.Orchestration.TaskHistoryRetentionLimit; l == nil || *l != 10 {
		t.Errorf("task history limit %v", l)
	}
	if after2.JoinTokens != after.JoinTokens {
		t.Errorf("tokens changed without a rotation flag")
	}
	spec.EncryptionConfig.AutoLockManagers = true
	wantErr(t, cli.SwarmUpdate(ctx, after2.Version, spec, swarm.UpdateFlags{}), "swarmops does not lock managers")

	status, body, _ := h.raw(m, cert, "POST", "/swarm/update?version=x", after2.Spec)
	wantError(t, status, body, 400, "invalid swarm version 'x'")
	status, body, _ = h.raw(m, cert, "POST", "/swarm/update?version=1&rotateWorkerToken=sure", after2.Spec)
	wantError(t, status, body, 400, "invalid value for rotateWorkerToken: sure")

	// Bootstrap goes through the swarmops CLI.
	for path, msg := range map[string]string{
		"/v1.41/swarm/init":  `"swarmops init"`,
		"/v1.41/swarm/join":  `"swarmops join --token TOKEN MANAGER"`,
		"/v1.41/swarm/leave": `"docker node rm"`,
	} {
		status, body, _ := h.raw(m, cert, "POST", path, "{}")
		wantError(t, status, body, http.StatusServiceUnavailable, msg)
	}
	key, err := cli.SwarmGetUnlockKey(ctx)
	if err != nil || key.UnlockKey != "" {
		t.Errorf("unlock key: %v %q", err, key.UnlockKey)
	}
	wantErr(t, cli.SwarmUnlock(ctx, swarm.UnlockRequest{UnlockKey: "x"}), "swarm is not locked")
}

func TestSwarmWithoutClusterRecord(t *testing.T) {
	h := &harness{t: t, pki: newPKI(t), c: newConsensus()}
	m := h.addManager("manager1aaaaaaaaaaaaaaaaa")
	status, body, _ := h.raw(m, h.clientCert(), "GET", "/swarm", nil)
	wantError(t, status, body, http.StatusServiceUnavailable, "This node is not part of a swarm")
}
