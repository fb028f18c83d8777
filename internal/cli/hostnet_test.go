package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/hostnet"
	"github.com/voidnxlabs/berth/internal/cli"
)

// TestValidateRefusesThisHostsNetwork puts a kit on a network this host
// really has (read from its routes and interfaces): validate refuses it
// with the kit's position, and --offline, which leaves host checks out,
// accepts it (issue 14).
func TestValidateRefusesThisHostsNetwork(t *testing.T) {
	nets, err := hostnet.List()
	if err != nil {
		t.Fatal(err)
	}
	var pick *hostnet.Network
	for i, n := range nets {
		if b := n.Prefix.Bits(); b >= 8 && b <= 28 && n.Prefix.Addr().IsPrivate() {
			pick = &nets[i]
			break
		}
	}
	if pick == nil {
		for i, n := range nets {
			if b := n.Prefix.Bits(); b >= 16 && b <= 28 && !n.Prefix.Addr().IsLoopback() && !n.Prefix.Addr().IsLinkLocalUnicast() {
				pick = &nets[i]
				break
			}
		}
	}
	if pick == nil {
		t.Skipf("no network between /8 and /28 on this host: %v", nets)
	}
	// A host address that is not the interface's own, so that the kit
	// does not read as its own bridge from an earlier apply.
	host := pick.Prefix.Addr().Next().Next().Next()
	if host == pick.Addr {
		host = host.Next()
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "berth.yaml")
	src := fmt.Sprintf("lab:\n  network: { subnet: %s, host: %s }\n  s: { image: x:1 }\n", pick.Prefix, host)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := cli.Main([]string{"-f", file, "validate"}, strings.NewReader(""), &out, &errb)
	want := fmt.Sprintf("%s:2:22: lab.network.subnet: subnet %s overlaps this host's network %s", file, pick.Prefix, pick.Prefix)
	if code != 2 || !strings.Contains(errb.String(), want) {
		t.Errorf("validate = %d\n%s\nwant exit 2 and %q", code, errb.String(), want)
	}
	errb.Reset()
	if code := cli.Main([]string{"-f", file, "validate", "--offline"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Errorf("validate --offline = %d\n%s", code, errb.String())
	}
}
