package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// ErrExposed is the error for a --listen address other than loopback
// without the flag that acknowledges it: whoever reaches the server can
// run commands in the project's containers.
var ErrExposed = errors.New("serving beyond this machine needs an explicit acknowledgement")

// Listen is where the server listens, checked.
type Listen struct {
	Addr     string // host:port as given
	Host     string // the host part; empty for all addresses
	Port     int
	Loopback bool
}

// ParseListen checks a --listen address. Anything but a loopback address
// needs expose (and then TLS, which the caller sets up).
func ParseListen(addr string, expose bool) (Listen, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return Listen{}, fmt.Errorf("--listen %q: %w (want HOST:PORT, for example 127.0.0.1:7070)", addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return Listen{}, fmt.Errorf("--listen %q: port %q is not a number from 0 to 65535", addr, ps)
	}
	l := Listen{Addr: addr, Host: host, Port: port}
	switch {
	case host == "localhost":
		l.Loopback = true
	case host == "":
	default:
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return Listen{}, fmt.Errorf("--listen %q: host %q is not an IP address or localhost", addr, host)
		}
		l.Loopback = ip.IsLoopback()
	}
	if !l.Loopback && !expose {
		return Listen{}, fmt.Errorf("--listen %s: %w", addr, ErrExposed)
	}
	return l, nil
}

// Names are the host names the server answers to on l: the loopback names
// for a loopback address; the address itself, this machine's name and
// extra otherwise (and every interface address when l listens on all).
func (l Listen) Names(extra []string) []string {
	var names []string
	if l.Loopback {
		names = []string{"127.0.0.1", "localhost", "::1"}
		if l.Host != "" && l.Host != "localhost" {
			names = append(names, l.Host)
		}
	} else {
		if l.Host != "" && l.Host != "0.0.0.0" && l.Host != "::" {
			names = append(names, l.Host)
		} else if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					names = append(names, p.Addr().String())
				}
			}
		}
		if h, err := os.Hostname(); err == nil && h != "" {
			names = append(names, h)
		}
	}
	names = append(names, extra...)
	slices.Sort(names)
	return slices.Compact(names)
}

// TLSFiles loads a given certificate and key.
func TLSFiles(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading --tls-cert and --tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// InternalCA returns a TLS config with a certificate for names, signed by
// a certificate authority of berth's own kept in dir (made on first use;
// its key 0600). A browser that trusts dir/ca.crt once trusts every
// certificate serve makes later, as with Caddy's internal CA. The
// returned path is the CA certificate's.
func InternalCA(dir string, names []string) (*tls.Config, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("making the CA directory: %w", err)
	}
	caCert, caKey, err := loadOrMakeCA(dir)
	if err != nil {
		return nil, "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("making a key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "berth serve"},
		NotBefore:    time.Now().Add(-time.Hour),
		// Short-lived: a new one is made at every start.
		NotAfter:    time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, "", fmt.Errorf("signing the server certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der, caCert.Raw}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, filepath.Join(dir, "ca.crt"), nil
}

func loadOrMakeCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if certPEM, err := os.ReadFile(certPath); err == nil {
		keyPEM, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the CA key: %w", err)
		}
		cb, _ := pem.Decode(certPEM)
		kb, _ := pem.Decode(keyPEM)
		if cb == nil || kb == nil {
			return nil, nil, fmt.Errorf("reading the CA in %s: not PEM", dir)
		}
		cert, err := x509.ParseCertificate(cb.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the CA certificate: %w", err)
		}
		key, err := x509.ParseECPrivateKey(kb.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the CA key: %w", err)
		}
		if time.Now().Before(cert.NotAfter.Add(-24 * time.Hour)) {
			return cert, key, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("making the CA key: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "berth serve CA " + host, Organization: []string{"berth"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("making the CA certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePrivate(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})); err != nil {
		return nil, nil, err
	}
	if err := writePrivate(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func writePrivate(p string, data []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
