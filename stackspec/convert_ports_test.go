package stackspec

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestConvertPorts(t *testing.T) {
	tcp, udp := swarm.PortConfigProtocolTCP, swarm.PortConfigProtocolUDP
	ingress, host := swarm.PortConfigPublishModeIngress, swarm.PortConfigPublishModeHost
	tests := []struct {
		name string
		keys string
		want []swarm.PortConfig
	}{
		{"none", "", []swarm.PortConfig{}},
		{"short syntax, sorted by published port", "    ports:\n      - \"8080:80\"\n      - 443:443\n      - 9000\n",
			[]swarm.PortConfig{
				{Protocol: tcp, TargetPort: 9000, PublishMode: ingress},
				{Protocol: tcp, TargetPort: 443, PublishedPort: 443, PublishMode: ingress},
				{Protocol: tcp, TargetPort: 80, PublishedPort: 8080, PublishMode: ingress},
			}},
		{"protocol", "    ports:\n      - 53:53/udp\n      - 53:53/tcp\n",
			[]swarm.PortConfig{
				{Protocol: udp, TargetPort: 53, PublishedPort: 53, PublishMode: ingress},
				{Protocol: tcp, TargetPort: 53, PublishedPort: 53, PublishMode: ingress},
			}},
		{"ranges", "    ports:\n      - \"7000-7001:7000-7001\"\n      - \"8000-8001:80\"\n",
			[]swarm.PortConfig{
				{Protocol: tcp, TargetPort: 7000, PublishedPort: 7000, PublishMode: ingress},
				{Protocol: tcp, TargetPort: 7001, PublishedPort: 7001, PublishMode: ingress},
				{Protocol: tcp, TargetPort: 80, PublishedPort: 8000, PublishMode: ingress},
				{Protocol: tcp, TargetPort: 80, PublishedPort: 8001, PublishMode: ingress},
			}},
		{"host IP is dropped", "    ports:\n      - 127.0.0.1:5432:5432\n",
			[]swarm.PortConfig{{Protocol: tcp, TargetPort: 5432, PublishedPort: 5432, PublishMode: ingress}}},
		{"long syntax leaves protocol and mode to the engine, as Docker does", "    ports:\n      - target: 80\n        published: 8080\n      - target: 53\n        published: 53\n        protocol: udp\n        mode: host\n",
			[]swarm.PortConfig{
				{Protocol: udp, TargetPort: 53, PublishedPort: 53, PublishMode: host},
				{TargetPort: 80, PublishedPort: 8080},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := serviceOf(t, inlineStack{yaml: serviceYAML(tt.keys)}.convert(t), "web").EndpointSpec
			sameJSONish(t, "ports", ep.Ports, tt.want)
		})
	}
}

func TestConvertEndpointMode(t *testing.T) {
	for keys, want := range map[string]swarm.ResolutionMode{
		"": "",
		"    deploy:\n      endpoint_mode: vip\n":   swarm.ResolutionModeVIP,
		"    deploy:\n      endpoint_mode: dnsrr\n": swarm.ResolutionModeDNSRR,
	} {
		ep := serviceOf(t, inlineStack{yaml: serviceYAML(keys)}.convert(t), "web").EndpointSpec
		if ep == nil || ep.Mode != want {
			t.Errorf("%q: endpoint %+v, want mode %q", keys, ep, want)
		}
	}
}

func TestPublishedRange(t *testing.T) {
	tests := []struct {
		in          string
		first, last uint32
		wantErr     bool
	}{
		{"", 0, 0, false},
		{"80", 80, 80, false},
		{"8000-8009", 8000, 8009, false},
		{"x", 0, 0, true},
		{"9-1", 0, 0, true},
		{"70000", 0, 0, true},
	}
	for _, tt := range tests {
		first, last, err := publishedRange(tt.in)
		if (err != nil) != tt.wantErr || first != tt.first || last != tt.last {
			t.Errorf("publishedRange(%q) = %d, %d, %v; want %d, %d, error %v", tt.in, first, last, err, tt.first, tt.last, tt.wantErr)
		}
	}
}

func TestConvertWarnsWhereDockerMergeDropsPorts(t *testing.T) {
	spec := inlineStack{
		yaml:  serviceYAML("    ports:\n      - \"53:53/udp\"\n      - \"53:53/tcp\"\n      - \"80\"\n"),
		extra: []string{"services:\n  web:\n    environment: {A: \"1\"}\n"},
	}.convert(t)
	if got := len(serviceOf(t, spec, "web").EndpointSpec.Ports); got != 3 {
		t.Errorf("%d ports, want all 3", got)
	}
	want := []string{"service web: docker stack deploy keeps only one of the 2 ports published on 53, as several files define the service; swarmops keeps them all"}
	sameJSONish(t, "warnings", spec.Warnings, want)
}
