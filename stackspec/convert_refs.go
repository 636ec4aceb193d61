package stackspec

import (
	"os"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/swarm"
)

// fileRef is a secret or config reference resolved Docker's way: the
// object's name on the cluster and the file it becomes in the container.
type fileRef struct {
	name   string
	target string
	uid    string
	gid    string
	mode   os.FileMode
}

// resolveRef applies Docker's defaults to a service's reference to a
// top-level secret or config: the target is the key, owner root, mode 0444.
// Docker keeps a relative target as written; swarmkit puts secrets under
// /run/secrets and configs at the container's root.
func (c *converter) resolveRef(ref types.FileReferenceConfig, obj types.FileObjectConfig) fileRef {
	r := fileRef{
		name:   c.objectName(ref.Source, obj.Name, bool(obj.External)),
		target: ref.Target,
		uid:    ref.UID,
		gid:    ref.GID,
		mode:   0o444,
	}
	if r.target == "" {
		r.target = ref.Source
	}
	if r.uid == "" {
		r.uid = "0"
	}
	if r.gid == "" {
		r.gid = "0"
	}
	if ref.Mode != nil {
		r.mode = os.FileMode(*ref.Mode)
	}
	return r
}

// secretRefs are the service's secrets, sorted by name (then target, where
// Docker leaves the order to chance). Two secrets may not land on one file.
func (c *converter) secretRefs(base string, svc types.ServiceConfig) []*swarm.SecretReference {
	refs := []*swarm.SecretReference{}
	targets := map[string]bool{}
	for i, s := range svc.Secrets {
		obj, ok := c.p.Secrets[s.Source]
		if !ok {
			c.failf(indexPath(base+".secrets", i), "undefined secret %q: declare it under the top-level secrets", s.Source)
			continue
		}
		r := c.resolveRef(types.FileReferenceConfig(s), types.FileObjectConfig(obj))
		if targets[r.target] {
			c.failf(indexPath(base+".secrets", i), "secret %s is the second one mounted at %s: give it another target", r.name, r.target)
			continue
		}
		targets[r.target] = true
		refs = append(refs, &swarm.SecretReference{
			SecretName: r.name,
			File:       &swarm.SecretReferenceFileTarget{Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode},
		})
	}
	SortSecretRefs(refs)
	return refs
}

// SortSecretRefs sorts a service's secret references as Docker does: by
// name, then by target file.
func SortSecretRefs(refs []*swarm.SecretReference) {
	target := func(r *swarm.SecretReference) string {
		if r.File == nil {
			return ""
		}
		return r.File.Name
	}
	slices.SortStableFunc(refs, func(a, b *swarm.SecretReference) int {
		if n := strings.Compare(a.SecretName, b.SecretName); n != 0 {
			return n
		}
		return strings.Compare(target(a), target(b))
	})
}

// configRefs are the service's configs, sorted like secrets, plus the one
// a credential_spec names, which the runtime reads rather than mounts.
func (c *converter) configRefs(base string, svc types.ServiceConfig) []*swarm.ConfigReference {
	refs := []*swarm.ConfigReference{}
	targets := map[string]bool{}
	for i, s := range svc.Configs {
		obj, ok := c.p.Configs[s.Source]
		if !ok {
			c.failf(indexPath(base+".configs", i), "undefined config %q: declare it under the top-level configs", s.Source)
			continue
		}
		r := c.resolveRef(types.FileReferenceConfig(s), types.FileObjectConfig(obj))
		if targets[r.target] {
			c.failf(indexPath(base+".configs", i), "config %s is the second one mounted at %s: give it another target", r.name, r.target)
			continue
		}
		targets[r.target] = true
		refs = append(refs, &swarm.ConfigReference{
			ConfigName: r.name,
			File:       &swarm.ConfigReferenceFileTarget{Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode},
		})
	}
	if cs := svc.CredentialSpec; cs != nil && cs.Config != "" {
		if obj, ok := c.p.Configs[cs.Config]; ok {
			refs = append(refs, &swarm.ConfigReference{
				ConfigName: c.objectName(cs.Config, obj.Name, bool(obj.External)),
				Runtime:    &swarm.ConfigReferenceRuntimeTarget{},
			})
		} else {
			c.failf(base+".credential_spec.config", "undefined config %q: declare it under the top-level configs", cs.Config)
		}
	}
	SortConfigRefs(refs)
	return refs
}

// credentialSpec converts a Windows credential spec, which names exactly
// one source. Docker puts the config's ID where a config is named; the ID
// exists only on the cluster, so the config's name stands in for it here.
func (c *converter) credentialSpec(base string, svc types.ServiceConfig, configs []*swarm.ConfigReference) *swarm.CredentialSpec {
	cs := svc.CredentialSpec
	if cs == nil {
		return nil
	}
	var set []string
	if cs.Config != "" {
		set = append(set, "config")
	}
	if cs.File != "" {
		set = append(set, "file")
	}
	if cs.Registry != "" {
		set = append(set, "registry")
	}
	switch len(set) {
	case 0:
		return nil
	case 1:
	default:
		c.failf(base+".credential_spec", "sets %s: set only one of config, file and registry", strings.Join(set, " and "))
		return nil
	}
	out := &swarm.CredentialSpec{File: cs.File, Registry: cs.Registry}
	if cs.Config == "" {
		return out
	}
	for _, r := range configs {
		if r.Runtime == nil {
			continue
		}
		// Docker finds the config under its key or its stack name only, so
		// one renamed with name: is not found.
		if r.ConfigName != cs.Config && r.ConfigName != c.scope(cs.Config) {
			c.failf(base+".credential_spec.config", "docker stack deploy cannot use config %s here, because it is renamed to %s: drop its name:, or point to it by that name as an external config", cs.Config, r.ConfigName)
			return nil
		}
		out.Config = r.ConfigName
		return out
	}
	return nil // configRefs reported the undefined config
}

// SortConfigRefs sorts a service's config references as Docker does: by
// name, a runtime reference (a credential spec's) after the file ones of
// the same config, where Docker appends it, then by target file.
func SortConfigRefs(refs []*swarm.ConfigReference) {
	slices.SortStableFunc(refs, func(a, b *swarm.ConfigReference) int {
		if n := strings.Compare(a.ConfigName, b.ConfigName); n != 0 {
			return n
		}
		switch {
		case a.File == nil && b.File == nil:
			return 0
		case a.File == nil:
			return 1
		case b.File == nil:
			return -1
		}
		return strings.Compare(a.File.Name, b.File.Name)
	})
}
