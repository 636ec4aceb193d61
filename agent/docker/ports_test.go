package docker

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/agent/runtime"
)

// freePort returns a port of 127.0.0.1 nobody listens on now.
func freePort(t *testing.T, network string) uint32 {
	t.Helper()
	var addr net.Addr
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr()
		l.Close()
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr()
		c.Close()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	var n uint32
	fmt.Sscan(port, &n)
	return n
}

// get polls an HTTP URL on loopback until it answers or the deadline.
func get(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("status %s, %v", resp.Status, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond) // the proxy may still be starting
	}
}

// echoUDP sends a datagram to addr until the echo comes back.
func echoUDP(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	buf := make([]byte, 100)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no echo from %s", addr)
	return ""
}

func TestHostModePorts(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	fixed, udp, ingress := freePort(t, "tcp"), freePort(t, "udp"), freePort(t, "tcp")
	tk := task(1, "SERVE_TCP=8080,9090,7070", "SERVE_UDP=5353", "LINES_AFTER=listening", "SLEEP=1h")
	spec := runtime.Spec{Task: tk, Service: "web", Endpoint: &swarm.EndpointSpec{Ports: []swarm.PortConfig{
		{Protocol: swarm.PortConfigProtocolTCP, TargetPort: 8080, PublishedPort: fixed, PublishMode: swarm.PortConfigPublishModeHost},
		{TargetPort: 9090, PublishMode: swarm.PortConfigPublishModeHost}, // the engine picks the port
		{Protocol: swarm.PortConfigProtocolUDP, TargetPort: 5353, PublishedPort: udp, PublishMode: swarm.PortConfigPublishModeHost},
		{TargetPort: 7070, PublishedPort: ingress, PublishMode: swarm.PortConfigPublishModeIngress},
	}}}
	start(t, rt, spec)
	waitForLine(t, rt, tk.ID, "listening")

	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/", fixed)); !strings.HasSuffix(got, ":8080") {
		t.Errorf("published %d answered %q, want the task's 8080", fixed, got)
	}
	if got := echoUDP(t, fmt.Sprintf("127.0.0.1:%d", udp)); got != "echo hi" {
		t.Errorf("udp %d echoed %q", udp, got)
	}

	ports, err := rt.Ports(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var picked uint32
	for _, p := range ports {
		if p.TargetPort == 9090 {
			picked = p.PublishedPort
		}
	}
	want := []swarm.PortConfig{
		{Protocol: "udp", TargetPort: 5353, PublishedPort: udp, PublishMode: "host"},
		{Protocol: "tcp", TargetPort: 8080, PublishedPort: fixed, PublishMode: "host"},
		{Protocol: "tcp", TargetPort: 9090, PublishedPort: picked, PublishMode: "host"},
	}
	if picked == 0 || !slices.Equal(ports, want) {
		t.Fatalf("Ports = %+v, want %+v with an engine-picked port for 9090", ports, want)
	}
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/", picked)); !strings.HasSuffix(got, ":9090") {
		t.Errorf("engine-picked %d answered %q, want the task's 9090", picked, got)
	}

	// An ingress port is the routing mesh's: nothing of the task's on it.
	c, err := engine.ContainerInspect(ctx, TaskName(tk, "web"))
	if err != nil {
		t.Fatal(err)
	}
	for p := range c.HostConfig.PortBindings {
		if p.Port() == "7070" {
			t.Errorf("ingress port 7070 bound on the host: %v", c.HostConfig.PortBindings)
		}
	}
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ingress), time.Second); err == nil {
		conn.Close()
		t.Errorf("something listens on the ingress port %d", ingress)
	}
}
