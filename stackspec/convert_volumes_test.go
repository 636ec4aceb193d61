package stackspec

import (
	"testing"

	"github.com/docker/docker/api/types/mount"
)

func TestConvertMounts(t *testing.T) {
	ns := map[string]string{"com.docker.stack.namespace": "shop"}
	tests := []struct {
		name    string
		yaml    string
		environ map[string]string
		want    func(dir string) []mount.Mount
	}{
		{
			name: "named volume in the stack's scope, with driver and labels",
			yaml: serviceYAML("    volumes:\n      - data:/var/lib/data\n") + "volumes:\n  data:\n    driver: rexray/dobs\n    driver_opts:\n      size: \"1\"\n    labels: {backup: daily}\n",
			want: func(string) []mount.Mount {
				return []mount.Mount{{Type: mount.TypeVolume, Source: "shop_data", Target: "/var/lib/data", VolumeOptions: &mount.VolumeOptions{
					Labels:       map[string]string{"backup": "daily", "com.docker.stack.namespace": "shop"},
					DriverConfig: &mount.Driver{Name: "rexray/dobs", Options: map[string]string{"size": "1"}},
				}}}
			},
		},
		{
			name: "named volume with name:, external volume, read only and nocopy",
			yaml: serviceYAML("    volumes:\n      - own:/a:ro\n      - outside:/b:nocopy\n") + "volumes:\n  own:\n    name: shared-own\n  outside:\n    external: true\n",
			want: func(string) []mount.Mount {
				return []mount.Mount{
					{Type: mount.TypeVolume, Source: "shared-own", Target: "/a", ReadOnly: true, VolumeOptions: &mount.VolumeOptions{Labels: ns}},
					{Type: mount.TypeVolume, Source: "outside", Target: "/b", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
				}
			},
		},
		{
			name: "anonymous volume",
			yaml: serviceYAML("    volumes:\n      - /cache\n"),
			want: func(string) []mount.Mount { return []mount.Mount{{Type: mount.TypeVolume, Target: "/cache"}} },
		},
		{
			name: "bind mounts: absolute, relative to the working dir, propagation",
			yaml: serviceYAML("    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n      - ./conf:/etc/conf:ro\n      - /mnt:/mnt:rshared\n"),
			want: func(dir string) []mount.Mount {
				return []mount.Mount{
					{Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"},
					{Type: mount.TypeBind, Source: dir + "/conf", Target: "/etc/conf", ReadOnly: true},
					{Type: mount.TypeBind, Source: "/mnt", Target: "/mnt", BindOptions: &mount.BindOptions{Propagation: mount.PropagationRShared}},
				}
			},
		},
		{
			name:    "a trailing slash in the target is kept, as Docker keeps it",
			yaml:    serviceYAML("    volumes:\n      - ./prometheus/:/etc/prometheus/\n      - ${DIR}:/etc/${SUB}/\n"),
			environ: map[string]string{"DIR": "/srv", "SUB": "x"},
			want: func(dir string) []mount.Mount {
				return []mount.Mount{
					{Type: mount.TypeBind, Source: dir + "/prometheus", Target: "/etc/prometheus/"},
					{Type: mount.TypeBind, Source: "/srv", Target: "/etc/x/"},
				}
			},
		},
		{
			name: "long syntax: tmpfs, volume options, bind options, consistency",
			yaml: serviceYAML(`    volumes:
      - type: tmpfs
        target: /tmp
        tmpfs:
          size: 10000
      - type: volume
        source: data
        target: /data
        volume:
          nocopy: true
          subpath: sub
      - type: bind
        source: /etc/hosts
        target: /etc/hosts
        consistency: cached
        bind:
          propagation: rprivate
`) + "volumes:\n  data: {}\n",
			want: func(string) []mount.Mount {
				return []mount.Mount{
					{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 10000}},
					{Type: mount.TypeVolume, Source: "shop_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{NoCopy: true, Subpath: "sub", Labels: ns}},
					{Type: mount.TypeBind, Source: "/etc/hosts", Target: "/etc/hosts", Consistency: mount.ConsistencyCached, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate}},
				}
			},
		},
		{
			name: "cluster volume group",
			yaml: serviceYAML("    volumes:\n      - type: cluster\n        source: group:mygroup\n        target: /srv\n"),
			want: func(string) []mount.Mount {
				return []mount.Mount{{Type: mount.TypeCluster, Source: "group:mygroup", Target: "/srv", ClusterOptions: &mount.ClusterOptions{}}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := inlineStack{yaml: tt.yaml, environ: tt.environ}
			l := s.load(t)
			spec, err := Convert(l)
			if err != nil {
				t.Fatal(err)
			}
			got := serviceOf(t, spec, "web").TaskTemplate.ContainerSpec.Mounts
			sameJSONish(t, "mounts", got, tt.want(l.Project.WorkingDir))
		})
	}
}

func TestConvertMountErrors(t *testing.T) {
	tests := []struct{ name, keys, msg string }{
		{"undefined volume", "    volumes:\n      - nowhere:/data\n", "undefined volume nowhere"},
		{"tmpfs with a source", "    volumes:\n      - type: tmpfs\n        source: x\n        target: /t\n", "takes no source"},
		{"options of another type", "    volumes:\n      - type: bind\n        source: /a\n        target: /a\n        tmpfs:\n          size: 1\n", "tmpfs options do not apply to a bind mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrorAt(t, inlineStack{yaml: serviceYAML(tt.keys)}.convertErr(t), "services.web.volumes.0", tt.msg)
		})
	}
}

func TestConvertRefusesTwoMountsAtOnePlace(t *testing.T) {
	errs := inlineStack{yaml: serviceYAML("    volumes:\n      - /var/lib/mysql\n      - /opt/data:/var/lib/mysql\n      - type: tmpfs\n        target: /var/lib/mysql\n")}.convertErr(t)
	wantErrorAt(t, errs, "services.web.volumes.1", "as volumes[0] does already")
	wantErrorAt(t, errs, "services.web.volumes.2", "as volumes[0] does already")
}
