package apiserver

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// FuzzDecodeServiceSpec drives the service spec decoder, normalizer and
// validator. Whatever the body: no panic, errors are 400s, and a spec
// accepted once is accepted again unchanged when sent back (what the
// docker CLI does on every update).
func FuzzDecodeServiceSpec(f *testing.F) {
	for _, seed := range []string{
		cliCreateBody,
		`{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"a"}}}`,
		`{"Name":"j","Mode":{"ReplicatedJob":{"MaxConcurrent":2}},"TaskTemplate":{"ContainerSpec":{"Image":"a","Secrets":[{"SecretID":"s","SecretName":"n","File":{"Name":"f"}}]}}}`,
		`{"Name":"g","Mode":{"Global":{}},"EndpointSpec":{"Mode":"dnsrr","Ports":[{"TargetPort":1,"PublishMode":"host"}]},"TaskTemplate":{"ContainerSpec":{"Image":"a","Healthcheck":{"Interval":1000000}},"Placement":{"Constraints":["node.role==manager"]}}}`,
		`{"Name":"x"}`, `{}`, `[]`, `{"Name":"x","TaskTemplate":{"Runtime":"plugin"}}`, "{\"Name\":\"x\"} \x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var spec swarm.ServiceSpec
		err := decodeBody(body, &spec)
		if err == nil {
			err = checkServiceSpec(&spec, true)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		js, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("marshal accepted spec: %v", err)
		}
		var again swarm.ServiceSpec
		if err := decodeBody(js, &again); err != nil {
			t.Fatalf("accepted spec does not decode again: %v\n%s", err, js)
		}
		if err := checkServiceSpec(&again, true); err != nil {
			t.Fatalf("accepted spec refused when sent back: %v\n%s", err, js)
		}
		if js2, _ := json.Marshal(again); !bytes.Equal(js, js2) {
			t.Fatalf("normalizing twice changed the spec:\n%s\n%s", js, js2)
		}
	})
}

// FuzzDecodeFilters drives the filters parameter parser.
func FuzzDecodeFilters(f *testing.F) {
	for _, seed := range []string{``, `{"name":{"web":true}}`, `{"name":["web"]}`, `{"bogus":{"x":true}}`, `{"label":{"a=b":true},"id":{"":false}}`, `[`, `null`, `{"name":null}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := &http.Request{URL: &url.URL{RawQuery: url.Values{"filters": {q}}.Encode()}}
		args, err := parseFilters(r, "name", "id", "label")
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		for _, k := range args.Keys() {
			if k != "name" && k != "id" && k != "label" {
				t.Fatalf("accepted unknown key %q", k)
			}
		}
	})
}

// FuzzDecodeWrites sends arbitrary bodies and parameters to every write
// route of a server over a small cluster state, as a client certificate
// holder. A 500 means a handler fault (panics answer 500 too): every
// answer must be a success or a client error.
func FuzzDecodeWrites(f *testing.F) {
	tlsState := fuzzClientState(f)
	var writes []RouteInfo
	for _, rt := range newFuzzServer(f).Routes() {
		if rt.Write && !rt.Join {
			writes = append(writes, rt)
		}
	}
	for i := range writes {
		f.Add(uint8(i), "x", "version=1", []byte(`{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"nginx"}}}`))
	}
	f.Add(uint8(0), "web", "version=3&rollback=previous", []byte(cliCreateBody))
	f.Add(uint8(1), "web", "version=1&force=1", []byte(`{"Name":"s","Data":"eA==","Labels":{"a":"b"}}`))
	f.Add(uint8(2), "net", "", []byte(`{"Name":"n","Driver":"overlay","IPAM":{"Config":[{"Subnet":"10.0.0.0/8"}]}}`))
	f.Fuzz(func(t *testing.T, pick uint8, id, query string, body []byte) {
		rt := writes[int(pick)%len(writes)]
		path := "/v1.41" + bytesReplace(rt.Path, "{id}", url.PathEscape(id))
		req := httptest.NewRequest(rt.Method, "https://manager"+path+"?"+url.PathEscape(query), bytes.NewReader(body))
		req.URL.RawQuery = query
		req.TLS = tlsState
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		// A fresh state each time, so that a failing input reproduces
		// alone.
		newFuzzServer(t).Handler().ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s?%s %q: %d %s", rt.Method, path, query, body, w.Code, w.Body)
		}
	})
}

func bytesReplace(s, old, repl string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(old), []byte(repl)))
}

// fuzzClientState is the TLS state of a connection from a client
// certificate holder, as the TLS layer leaves it after verification.
func fuzzClientState(f *testing.F) *tls.ConnectionState {
	root, err := ca.NewRootCA(time.Now())
	if err != nil {
		f.Fatal(err)
	}
	certPEM, _, err := root.IssueKeyPair("cli0000000000000000000000", ca.RoleClient, nil, nil, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	certs, err := ca.ParseCertificates(certPEM)
	if err != nil {
		f.Fatal(err)
	}
	return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{certs[0]}}}
}

// newFuzzServer is an in-process server (no sockets) over a store with
// nodes, a service, a secret and a network.
func newFuzzServer(tb testing.TB) *Server {
	c := newConsensus()
	st := store.New()
	r := c.member("manager1aaaaaaaaaaaaaaaaa", st)
	srv := New(Config{NodeID: r.id, Store: st, Raft: r, Sealer: xorSealer{}, Logger: slog.New(slog.DiscardHandler)})
	muts := []store.Mutation{
		store.Create(&swarm.Node{ID: r.id, Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager}, Description: swarm.NodeDescription{Hostname: "m1"}, Status: swarm.NodeStatus{State: swarm.NodeStateReady}}),
		store.Create(&swarm.Node{ID: "worker1aaaaaaaaaaaaaaaaaa", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker}, Description: swarm.NodeDescription{Hostname: "x"}}),
		store.Create(&swarm.Service{ID: "web000000000000000000000x", Spec: minimalSpec("web", "nginx")}),
		store.Create(&swarm.Secret{ID: "sec000000000000000000000x", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "x"}, Data: []byte("s")}}),
		store.Create(&network.Inspect{ID: "net000000000000000000000x", Name: "net", Driver: "overlay", Scope: "swarm"}),
	}
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Apply(1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), data); err != nil {
		tb.Fatal(err)
	}
	c.index = 1
	return srv
}
