package stackspec

import (
	"maps"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/mount"
)

// mounts converts the service's volumes, in the order written. written
// maps a target compose-go cleaned to the one in the file.
func (c *converter) mounts(base string, volumes []types.ServiceVolumeConfig, written map[string]string) []mount.Mount {
	out := make([]mount.Mount, 0, len(volumes))
	for i, v := range volumes {
		if t, ok := written[v.Target]; ok {
			v.Target = t
		}
		path := indexPath(base+".volumes", i)
		m, msg := c.mount(v)
		if msg != "" {
			c.fail(path, msg)
			continue
		}
		out = append(out, m)
	}
	return out
}

// mount converts one volume by its type, with Docker's rules for which
// options each type takes. It returns what is wrong instead when Docker
// would refuse it.
func (c *converter) mount(v types.ServiceVolumeConfig) (mount.Mount, string) {
	m := mount.Mount{
		Type:        mount.Type(v.Type),
		Source:      v.Source,
		Target:      v.Target,
		ReadOnly:    v.ReadOnly,
		Consistency: mount.Consistency(v.Consistency),
	}
	if msg := incompatibleOptions(v); msg != "" {
		return mount.Mount{}, msg
	}
	switch v.Type {
	case types.VolumeTypeVolume, "":
		return c.volumeMount(v, m)
	case types.VolumeTypeBind:
		if v.Source == "" {
			return mount.Mount{}, "a bind mount needs a source: the host path to mount"
		}
		m.BindOptions = bindOptions(v.Bind)
	case types.VolumeTypeTmpfs:
		if v.Source != "" {
			return mount.Mount{}, "a tmpfs mount takes no source: remove it"
		}
		if v.Tmpfs != nil {
			m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size)}
		}
	case types.VolumeTypeNamedPipe:
		if v.Source == "" {
			return mount.Mount{}, "a named pipe mount needs a source: the pipe to mount"
		}
		m.BindOptions = bindOptions(v.Bind)
	case types.VolumeTypeImage:
		if v.Source == "" {
			return mount.Mount{}, "an image mount needs a source: the image to mount"
		}
		if v.Image != nil {
			m.ImageOptions = &mount.ImageOptions{Subpath: v.Image.SubPath}
		}
	case types.VolumeTypeCluster:
		return c.clusterMount(v, m)
	default:
		return mount.Mount{}, "unknown volume type " + v.Type + ": use volume, bind, tmpfs, npipe, image or cluster"
	}
	return m, ""
}

// incompatibleOptions refuses options of one mount type given to another,
// such as tmpfs.size on a bind mount.
func incompatibleOptions(v types.ServiceVolumeConfig) string {
	typ := v.Type
	if typ == "" {
		typ = types.VolumeTypeVolume
	}
	given := map[string]bool{
		"volume": v.Volume != nil && typ != types.VolumeTypeVolume,
		"bind":   v.Bind != nil && typ != types.VolumeTypeBind && typ != types.VolumeTypeNamedPipe,
		"tmpfs":  v.Tmpfs != nil && typ != types.VolumeTypeTmpfs,
		"image":  v.Image != nil && typ != types.VolumeTypeImage,
	}
	for _, opt := range []string{"volume", "bind", "tmpfs", "image"} {
		if given[opt] {
			return opt + " options do not apply to a " + typ + " mount: remove them, or change the type"
		}
	}
	return ""
}

// bindOptions are sent when the file sets a propagation, or writes a bind:
// block of its own. compose-go marks every short-syntax bind with
// create_host_path, which Docker's loader has no notion of: such a bind
// without propagation gets none, as from Docker.
func bindOptions(b *types.ServiceVolumeBind) *mount.BindOptions {
	if b == nil || (b.Propagation == "" && bool(b.CreateHostPath)) {
		return nil
	}
	return &mount.BindOptions{Propagation: mount.Propagation(b.Propagation)}
}

// volumeMount mounts a named volume under its stack name (or its own, or
// an external one's), made with the top-level volume's driver and labels.
// An anonymous volume is mounted as written.
func (c *converter) volumeMount(v types.ServiceVolumeConfig, m mount.Mount) (mount.Mount, string) {
	if v.Source == "" {
		return m, ""
	}
	vol, ok := c.p.Volumes[v.Source]
	if !ok {
		return mount.Mount{}, "undefined volume " + v.Source + ": declare it under the top-level volumes"
	}
	m.Source = c.objectName(v.Source, vol.Name, bool(vol.External))
	m.VolumeOptions = &mount.VolumeOptions{}
	if v.Volume != nil {
		m.VolumeOptions.NoCopy = v.Volume.NoCopy
		m.VolumeOptions.Subpath = v.Volume.Subpath
	}
	if bool(vol.External) {
		return m, ""
	}
	m.VolumeOptions.Labels = c.stackLabels(vol.Labels)
	if vol.Driver != "" || vol.DriverOpts != nil {
		m.VolumeOptions.DriverConfig = &mount.Driver{Name: vol.Driver, Options: maps.Clone(vol.DriverOpts)}
	}
	return m, ""
}

// clusterMount mounts a cluster (CSI) volume: a group is taken as named,
// a volume by its stack name unless it has its own.
func (c *converter) clusterMount(v types.ServiceVolumeConfig, m mount.Mount) (mount.Mount, string) {
	if v.Source == "" {
		return mount.Mount{}, "a cluster mount needs a source: a volume, or group:NAME"
	}
	m.ClusterOptions = &mount.ClusterOptions{}
	if strings.HasPrefix(v.Source, "group:") {
		return m, ""
	}
	vol, ok := c.p.Volumes[v.Source]
	if !ok {
		return mount.Mount{}, "undefined volume " + v.Source + ": declare it under the top-level volumes"
	}
	m.Source = c.objectName(v.Source, vol.Name, bool(vol.External))
	return m, ""
}
