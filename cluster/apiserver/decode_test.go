package apiserver

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

func TestDecodeJSON(t *testing.T) {
	cases := []struct {
		name, ct, body string
		status         int
		msg            string
	}{
		{"ok", "application/json", `{"Name":"a"}`, 0, ""},
		{"ok with charset", "application/json; charset=utf-8", `{"Name":"a"}`, 0, ""},
		{"no content type", "", `{"Name":"a"}`, 0, ""},
		{"unknown fields are ignored", "", `{"Name":"a","Nope":[1,2,{"x":null}]}`, 0, ""},
		{"trailing whitespace", "", "{\"Name\":\"a\"}\n\t ", 0, ""},
		{"text", "text/plain", `{"Name":"a"}`, 400, "unsupported Content-Type header (text/plain): must be 'application/json'"},
		{"bad content type", "a/b/c;;", `{}`, 400, "malformed Content-Type header"},
		{"empty", "", "", 400, "invalid JSON: got EOF while reading request body"},
		{"blank", "", "  \n", 400, "invalid JSON: got EOF while reading request body"},
		{"truncated", "", `{"Name":"a"`, 400, "invalid JSON: unexpected EOF"},
		{"syntax", "", `{"Name":}`, 400, "invalid JSON: invalid character '}'"},
		{"trailing object", "", `{"Name":"a"} {}`, 400, "unexpected content after JSON"},
		{"trailing bracket", "", `{"Name":"a"}]`, 400, "unexpected content after JSON"},
		{"array", "", `[1]`, 400, "invalid JSON: json: cannot unmarshal array"},
		{"wrong type", "", `{"Labels":"x"}`, 400, "invalid JSON: json: cannot unmarshal string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(c.body))
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			var spec swarm.ServiceSpec
			err := decodeJSON(r, &spec)
			if c.status == 0 {
				if err != nil || spec.Name != "a" {
					t.Fatalf("decode: %v (%+v)", err, spec)
				}
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != c.status || !strings.Contains(ae.msg, c.msg) {
				t.Fatalf("got %v, want %d %q", err, c.status, c.msg)
			}
		})
	}
}

func TestBodyLimitIs413(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{"Name":"`+strings.Repeat("a", 100)+`"}`))
	r.Body = http.MaxBytesReader(w, r.Body, 10)
	var spec swarm.ServiceSpec
	err := decodeJSON(r, &spec)
	s := &Server{log: slog.New(slog.DiscardHandler)}
	s.writeError(w, r, err)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "request body too large: the limit is 10 bytes") {
		t.Errorf("got %d %s", w.Code, w.Body)
	}
}

func TestQueryHelpers(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "no": false, "False": false, "none": false, "1": true, "true": true, "yes": true} {
		if boolValue(v) != want {
			t.Errorf("boolValue(%q) = %v", v, !want)
		}
	}
	r := &http.Request{URL: &url.URL{RawQuery: "version=12&b=TRUE&c=2"}}
	if v, err := queryVersion(r, "service"); err != nil || v != 12 {
		t.Errorf("queryVersion: %d %v", v, err)
	}
	if b, err := queryBool(r, "b"); err != nil || !b {
		t.Errorf("queryBool(b): %v %v", b, err)
	}
	if _, err := queryBool(r, "c"); err == nil || err.Error() != "invalid value for c: 2" {
		t.Errorf("queryBool(c): %v", err)
	}
}

// The count in "is ambiguous (N matches found)" comes from the store's
// message; this pins the two together.
func TestAmbiguityCountFromStore(t *testing.T) {
	st := store.New()
	data, err := store.EncodeBatch(
		store.Create(&swarm.Task{ID: "abc1"}), store.Create(&swarm.Task{ID: "abc2"}), store.Create(&swarm.Task{ID: "abc3"}),
		store.Create(&swarm.Node{ID: "n1", Description: swarm.NodeDescription{Hostname: "same"}}),
		store.Create(&swarm.Node{ID: "n2", Description: swarm.NodeDescription{Hostname: "same"}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), data); err != nil {
		t.Fatal(err)
	}
	_ = st.View(func(tx store.ReadTx) error {
		if _, err := resolve(tx, store.TableTasks, "task", "abc"); err == nil || err.Error() != "task abc is ambiguous (3 matches found)" {
			t.Errorf("prefix: %v", err)
		}
		if _, err := resolve(tx, store.TableNodes, "node", "same"); err == nil || err.Error() != "node same is ambiguous (2 matches found)" {
			t.Errorf("hostname: %v", err)
		}
		return nil
	})
}

// Normalizing twice changes nothing: what the API stores reads back as
// the same spec when a client sends it again (inspect, edit, update).
func TestNormalizeIsIdempotent(t *testing.T) {
	for _, body := range []string{cliCreateBody,
		`{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"a","Mounts":[{"Target":"/d"}]},"RestartPolicy":{},"Placement":{"Preferences":[{}]}},"EndpointSpec":{"Ports":[{"Protocol":"SCTP","PublishMode":"HOST","TargetPort":1}]},"UpdateConfig":{},"Networks":[{"Target":"n"}]}`,
	} {
		once, err := normalizedSpec([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		js, _ := json.Marshal(once)
		twice, err := normalizedSpec(js)
		if err != nil {
			t.Fatalf("again: %v", err)
		}
		if js2, _ := json.Marshal(twice); string(js) != string(js2) {
			t.Errorf("normalize is not idempotent:\n%s\n%s", js, js2)
		}
	}
}

func normalizedSpec(body []byte) (swarm.ServiceSpec, error) {
	var spec swarm.ServiceSpec
	if err := decodeBody(body, &spec); err != nil {
		return spec, err
	}
	return spec, checkServiceSpec(&spec, true)
}

func TestValidateIPAM(t *testing.T) {
	for _, c := range []struct {
		cfg network.IPAMConfig
		msg string
	}{
		{network.IPAMConfig{Subnet: "10.0.0.0/24", IPRange: "10.0.0.128/25", Gateway: "10.0.0.1"}, ""},
		{network.IPAMConfig{}, ""},
		{network.IPAMConfig{Subnet: "nope"}, "invalid subnet nope"},
		{network.IPAMConfig{Subnet: "10.0.0.0/24", IPRange: "10.1.0.0/25"}, "does not contain range 10.1.0.0/25"},
		{network.IPAMConfig{Subnet: "10.0.0.0/24", IPRange: "10.0.0.0/16"}, "does not contain range 10.0.0.0/16"},
		{network.IPAMConfig{Subnet: "10.0.0.0/24", IPRange: "x"}, "invalid range x"},
		{network.IPAMConfig{Subnet: "10.0.0.0/24", Gateway: "x"}, "invalid gateway x"},
	} {
		err := validateIPAM(c.cfg)
		if (c.msg == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.msg)
		}
	}
}
