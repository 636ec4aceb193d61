package ca

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Layout names the certificate files of a data directory:
//
//	DIR/certs/ca.pem        root certificate
//	DIR/certs/ca-key.pem    root key (managers only)
//	DIR/certs/node.pem      this node's certificate
//	DIR/certs/node-key.pem  this node's key
//	DIR/client/ca.pem       the same root, for the CLI
//	DIR/client/cert.pem     the CLI's client certificate
//	DIR/client/key.pem      the CLI's key
//
// DIR/client uses the names the docker CLI expects in DOCKER_CERT_PATH.
// Directories are created 0700; keys are written 0600, certificates 0644.
// Files are replaced atomically (write to a temporary file, then rename),
// so a crash never leaves a half-written key.
type Layout struct {
	Dir string
}

// NewLayout returns the layout of the data directory dir.
func NewLayout(dir string) Layout { return Layout{Dir: dir} }

// CertsDir is DIR/certs.
func (l Layout) CertsDir() string { return filepath.Join(l.Dir, "certs") }

// CACertFile is DIR/certs/ca.pem.
func (l Layout) CACertFile() string { return filepath.Join(l.CertsDir(), "ca.pem") }

// CAKeyFile is DIR/certs/ca-key.pem.
func (l Layout) CAKeyFile() string { return filepath.Join(l.CertsDir(), "ca-key.pem") }

// NodeCertFile is DIR/certs/node.pem.
func (l Layout) NodeCertFile() string { return filepath.Join(l.CertsDir(), "node.pem") }

// NodeKeyFile is DIR/certs/node-key.pem.
func (l Layout) NodeKeyFile() string { return filepath.Join(l.CertsDir(), "node-key.pem") }

// ClientDir is DIR/client, the value for DOCKER_CERT_PATH.
func (l Layout) ClientDir() string { return filepath.Join(l.Dir, "client") }

// ClientCAFile is DIR/client/ca.pem.
func (l Layout) ClientCAFile() string { return filepath.Join(l.ClientDir(), "ca.pem") }

// ClientCertFile is DIR/client/cert.pem.
func (l Layout) ClientCertFile() string { return filepath.Join(l.ClientDir(), "cert.pem") }

// ClientKeyFile is DIR/client/key.pem.
func (l Layout) ClientKeyFile() string { return filepath.Join(l.ClientDir(), "key.pem") }

// SaveRootCA writes ca.pem and, when the root can sign, ca-key.pem. A root
// without its key removes a stale ca-key.pem, so the files always agree.
func (l Layout) SaveRootCA(ca *RootCA) error {
	if err := writeFile(l.CACertFile(), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	if !ca.CanSign() {
		if err := os.Remove(l.CAKeyFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("save root CA: %w", err)
		}
		return nil
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return fmt.Errorf("save root CA: %w", err)
	}
	return writeFile(l.CAKeyFile(), keyPEM, 0o600)
}

// LoadRootCA reads ca.pem and, if present, ca-key.pem.
func (l Layout) LoadRootCA() (*RootCA, error) {
	certPEM, err := readFile(l.CACertFile())
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile(l.CAKeyFile())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ca, err := ParseRootCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.CACertFile(), err)
	}
	return ca, nil
}

// SaveNode writes node.pem and node-key.pem.
func (l Layout) SaveNode(certPEM, keyPEM []byte) error {
	if err := writeFile(l.NodeKeyFile(), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(l.NodeCertFile(), certPEM, 0o644)
}

// LoadNode reads this node's key pair, checked against ca (see KeyPair).
func (l Layout) LoadNode(ca *RootCA) (tls.Certificate, error) {
	return loadPair(ca, l.NodeCertFile(), l.NodeKeyFile())
}

// SaveClient writes the CLI's ca.pem, cert.pem and key.pem.
func (l Layout) SaveClient(ca *RootCA, certPEM, keyPEM []byte) error {
	if err := writeFile(l.ClientCAFile(), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	if err := writeFile(l.ClientKeyFile(), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(l.ClientCertFile(), certPEM, 0o644)
}

// LoadClient reads the CLI's root and key pair from DIR/client.
func (l Layout) LoadClient() (*RootCA, tls.Certificate, error) {
	certPEM, err := readFile(l.ClientCAFile())
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	ca, err := ParseRootCA(certPEM, nil)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("%s: %w", l.ClientCAFile(), err)
	}
	pair, err := loadPair(ca, l.ClientCertFile(), l.ClientKeyFile())
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	return ca, pair, nil
}

func loadPair(ca *RootCA, certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := ca.KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", certFile, err)
	}
	return pair, nil
}

func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: is this a swarmops data directory? ('swarmops init' or 'swarmops join' creates one): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read certificate file: %w", err)
	}
	return b, nil
}

// writeFile replaces path atomically with data at mode perm, creating the
// directory 0700 if needed.
func writeFile(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; widen it only for certificates, and
	// before any byte of a key could be written.
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes the rename durable: without it a crash can lose the new
// directory entry even though the file's data reached the disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
