package reconciler

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

// ageMagic starts every binary age file; an armored one starts with
// armor.Header instead.
const ageMagic = "age-encryption.org/v1\n"

// maxObjectName is the longest secret or config name Swarm accepts.
const maxObjectName = 64

// versionHexLen is how much of the content digest a versioned name
// carries.
const versionHexLen = 10

// ParseIdentities reads an age identity file as age-keygen writes it: one
// secret key per line (AGE-SECRET-KEY-1…, or the post-quantum
// AGE-SECRET-KEY-PQ-1…), with blank lines and # comments allowed. Errors
// name the line, never its content, since a line may be half a key.
func ParseIdentities(data []byte) ([]age.Identity, error) {
	var ids []age.Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parsed, err := age.ParseIdentities(strings.NewReader(line))
		if err != nil {
			return nil, fmt.Errorf("age identity file, line %d: not an age secret key; each line holds one AGE-SECRET-KEY-1… key as age-keygen writes it, or a # comment", n)
		}
		ids = append(ids, parsed...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read age identity file: %w", err)
	}
	if len(ids) == 0 {
		return nil, errors.New("age identity file holds no key; make one with age-keygen")
	}
	return ids, nil
}

// IsAgeEncrypted reports whether data is an age file, binary or armored.
func IsAgeEncrypted(data []byte) bool {
	return bytes.HasPrefix(data, []byte(ageMagic)) ||
		bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header))
}

// DecryptStack decrypts in place every secret and config of spec whose
// data is an age file, with the cluster's identities. Every object that
// cannot be decrypted is named in the error with the fix; the error never
// holds plaintext. Data that is not age-encrypted is left as it is.
func DecryptStack(spec *api.StackSpec, ids []age.Identity) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(spec.Secrets)) {
		s := spec.Secrets[name]
		if !IsAgeEncrypted(s.Data) {
			continue
		}
		data, err := decryptObject("secret "+name, s.Data, ids)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Data = data
		spec.Secrets[name] = s
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Configs)) {
		c := spec.Configs[name]
		if !IsAgeEncrypted(c.Data) {
			continue
		}
		data, err := decryptObject("config "+name, c.Data, ids)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.Data = data
		spec.Configs[name] = c
	}
	return errors.Join(errs...)
}

func decryptObject(what string, data []byte, ids []age.Identity) ([]byte, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s is encrypted with age but no identity is configured: `swarmops repo set --age-identity-file FILE`", what)
	}
	var src io.Reader = bytes.NewReader(data)
	if !bytes.HasPrefix(data, []byte(ageMagic)) {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(src, ids...)
	var noMatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &noMatch):
		return nil, fmt.Errorf("%s cannot be decrypted with the cluster's age identity: encrypt it to %s (%w)", what, strings.Join(recipients(ids), " or "), err)
	case err != nil:
		// age and its armor quote the lines they cannot read; in a file
		// that only looks encrypted those may be the secret itself, so the
		// cause stays out of the message (`age -d` on the file shows it).
		return nil, fmt.Errorf("%s looks age-encrypted but is not a valid age file: encrypt it again with age", what)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		// What was decrypted before the damage is dropped with the rest.
		return nil, fmt.Errorf("%s is a damaged age file: encrypt it again with age", what)
	}
	return plain, nil
}

// recipients are the public keys of ids, to encrypt to.
func recipients(ids []age.Identity) []string {
	var out []string
	for _, id := range ids {
		switch id := id.(type) {
		case *age.X25519Identity:
			out = append(out, id.Recipient().String())
		case *age.HybridIdentity:
			out = append(out, id.Recipient().String())
		}
	}
	if len(out) == 0 {
		return []string{"the cluster's recipient"}
	}
	return out
}

// VersionNames renames every secret and config that spec defines with
// content to "<name>-<first 10 hex digits of sha256(data)>", and points
// the services' references at the new names. Swarm secrets and configs
// cannot change their data, so a new name per content is how a changed
// one reaches the services: they update to the new object and the old
// one is pruned. A driver-backed secret (no data) keeps its name, and
// external objects are not in spec's maps, so references to them stay.
//
// It must be called once, on a freshly converted spec: a name that
// already carries a suffix gets another. The digest is of Data as it is
// at the call; called before DecryptStack, names derive from the
// ciphertext in git and reveal nothing of the plaintext, at the price of
// a new name whenever a file is encrypted again.
func VersionNames(spec *api.StackSpec) {
	secretNames := map[string]string{}
	secrets := make(map[string]swarm.SecretSpec, len(spec.Secrets))
	for name, s := range spec.Secrets {
		if len(s.Data) > 0 {
			v := versionedName(name, s.Data)
			secretNames[name], name = v, v
			s.Name = v
		}
		secrets[name] = s
	}
	configNames := map[string]string{}
	configs := make(map[string]swarm.ConfigSpec, len(spec.Configs))
	for name, c := range spec.Configs {
		if len(c.Data) > 0 {
			v := versionedName(name, c.Data)
			configNames[name], name = v, v
			c.Name = v
		}
		configs[name] = c
	}
	if spec.Secrets != nil {
		spec.Secrets = secrets
	}
	if spec.Configs != nil {
		spec.Configs = configs
	}
	for _, svc := range spec.Services {
		renameRefs(svc.TaskTemplate.ContainerSpec, secretNames, configNames)
	}
}

// versionedName keeps within Swarm's name limit by shortening the base,
// never the digest. Two names that differ only past the cut and hold the
// same data end up as one object, which is harmless: same content.
func versionedName(name string, data []byte) string {
	sum := sha256.Sum256(data)
	suffix := "-" + hex.EncodeToString(sum[:])[:versionHexLen]
	if len(name)+len(suffix) > maxObjectName {
		name = name[:maxObjectName-len(suffix)]
	}
	return name + suffix
}

// renameRefs points a container's references at renamed objects and
// sorts them again by name, the order Docker and stackspec keep.
func renameRefs(cs *swarm.ContainerSpec, secretNames, configNames map[string]string) {
	if cs == nil {
		return
	}
	for _, r := range cs.Secrets {
		if v, ok := secretNames[r.SecretName]; ok {
			r.SecretName = v
		}
	}
	for _, r := range cs.Configs {
		if v, ok := configNames[r.ConfigName]; ok {
			r.ConfigName = v
		}
	}
	if cs.Privileges != nil && cs.Privileges.CredentialSpec != nil {
		if v, ok := configNames[cs.Privileges.CredentialSpec.Config]; ok {
			cs.Privileges.CredentialSpec.Config = v
		}
	}
	stackspec.SortSecretRefs(cs.Secrets)
	stackspec.SortConfigRefs(cs.Configs)
}
