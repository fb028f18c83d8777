package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// NodeNamespace is the containerd namespace the kubelet's CRI reads
// images from.
const NodeNamespace = "k8s.io"

// K3sContainerd is the socket of k3s's embedded containerd.
const K3sContainerd = "/run/k3s/containerd/containerd.sock"

// ErrNoCtr: neither ctr nor k3s was found to import images with.
var ErrNoCtr = errors.New("no ctr command found")

// NodeImages imports image tarballs into a node's containerd, in the
// namespace the kubelet reads, so that pods start without a registry. It
// runs containerd's own client: `k3s ctr` on a k3s node, `ctr` elsewhere.
type NodeImages struct {
	// Ctr is the command and its leading arguments; default: k3s ctr when
	// k3s is on PATH, else ctr.
	Ctr []string
	// Address is containerd's socket; default: ctr's own default (k3s ctr
	// knows k3s's socket).
	Address string
	// Namespace defaults to NodeNamespace.
	Namespace string
}

// DefaultCtr returns the ctr command of this machine: k3s's when k3s is
// installed, else containerd's.
func DefaultCtr() ([]string, error) {
	if _, err := exec.LookPath("k3s"); err == nil {
		return []string{"k3s", "ctr"}, nil
	}
	if _, err := exec.LookPath("ctr"); err == nil {
		return []string{"ctr"}, nil
	}
	return nil, fmt.Errorf("importing images: %w (install containerd's ctr, or run on a k3s node)", ErrNoCtr)
}

func (n *NodeImages) args(a ...string) ([]string, error) {
	ctr := n.Ctr
	if len(ctr) == 0 {
		var err error
		if ctr, err = DefaultCtr(); err != nil {
			return nil, err
		}
	}
	ns := n.Namespace
	if ns == "" {
		ns = NodeNamespace
	}
	out := append([]string(nil), ctr...)
	if n.Address != "" {
		out = append(out, "--address", n.Address)
	}
	return append(append(out, "--namespace", ns), a...), nil
}

func (n *NodeImages) run(ctx context.Context, a ...string) ([]byte, error) {
	argv, err := n.args(a...)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		return nil, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return out, nil
}

// Digest returns the digest the node holds under ref ("" when it has no
// such image).
func (n *NodeImages) Digest(ctx context.Context, ref string) (string, error) {
	out, err := n.run(ctx, "images", "ls", "name=="+ref)
	if err != nil {
		return "", fmt.Errorf("listing the node's images: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// REF TYPE DIGEST SIZE ...
		if len(f) >= 3 && f[0] == ref {
			return f[2], nil
		}
	}
	return "", nil
}

// Load imports the image tarball (an OCI layout or docker-save archive,
// as berth's store writes it) unless the node already holds ref at
// digest; it reports whether it imported.
func (n *NodeImages) Load(ctx context.Context, tarball, ref, digest string) (bool, error) {
	if ref == "" || strings.ContainsAny(ref, " \t\n") {
		return false, fmt.Errorf("loading %s: bad image reference %q", tarball, ref)
	}
	if digest != "" {
		have, err := n.Digest(ctx, ref)
		if err != nil {
			return false, err
		}
		if have == digest {
			return false, nil
		}
	}
	if _, err := os.Stat(tarball); err != nil {
		return false, fmt.Errorf("loading %s: %w", ref, err)
	}
	if _, err := n.run(ctx, "images", "import", tarball); err != nil {
		return false, fmt.Errorf("importing %s into the node: %w", ref, err)
	}
	if digest != "" {
		have, err := n.Digest(ctx, ref)
		if err != nil {
			return false, err
		}
		if have != digest {
			return false, fmt.Errorf("importing %s: the node holds %q after the import, want %s", ref, have, digest)
		}
	}
	return true, nil
}
