package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/cluster"
)

// fakeCtr writes a ctr stand-in that records its arguments and holds one
// image in a file, as ctr's "images ls" prints it. The real import into a
// node's containerd runs in the node test (node_test.go).
func fakeCtr(t *testing.T) (ctr, calls, images string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	images = filepath.Join(dir, "images")
	ctr = filepath.Join(dir, "ctr")
	script := `#!/bin/sh
echo "$*" >>` + calls + `
case "$*" in
*"images ls"*) echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"; cat ` + images + ` 2>/dev/null || true ;;
*"images import"*) echo "ghcr.io/voidnxlabs/pause:latest application/vnd.oci.image.manifest.v1+json sha256:bbb 1.0 MiB linux/amd64 -" >` + images + ` ;;
esac
`
	if err := os.WriteFile(ctr, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return ctr, calls, images
}

func TestNodeImagesLoad(t *testing.T) {
	ctr, calls, images := fakeCtr(t)
	tarball := filepath.Join(t.TempDir(), "pause.tar")
	os.WriteFile(tarball, []byte("x"), 0o644)
	n := &cluster.NodeImages{Ctr: []string{ctr}, Address: "/run/x.sock"}
	loaded, err := n.Load(t.Context(), tarball, "ghcr.io/voidnxlabs/pause:latest", "sha256:bbb")
	if err != nil || !loaded {
		t.Fatalf("first load: loaded=%v err=%v, want an import", loaded, err)
	}
	b, _ := os.ReadFile(calls)
	if !strings.Contains(string(b), "--address /run/x.sock --namespace k8s.io images import "+tarball) {
		t.Errorf("ctr calls:\n%s\nwant an import into k8s.io over the socket", b)
	}
	loaded, err = n.Load(t.Context(), tarball, "ghcr.io/voidnxlabs/pause:latest", "sha256:bbb")
	if err != nil || loaded {
		t.Fatalf("second load: loaded=%v err=%v, want it skipped (same digest)", loaded, err)
	}
	// A node that holds another digest after the import is an error.
	os.Remove(images)
	if _, err := n.Load(t.Context(), tarball, "ghcr.io/voidnxlabs/pause:latest", "sha256:ccc"); err == nil || !strings.Contains(err.Error(), "sha256:ccc") {
		t.Errorf("digest mismatch after import: %v", err)
	}
	if _, err := n.Load(t.Context(), tarball, "bad ref", ""); err == nil {
		t.Error("a reference with a space was accepted")
	}
}
