package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/voidnxlabs/berth/cluster/clustertest"
)

// TestClusterScripts runs the cluster transcripts in testdata/cluster
// against a real API server, each in a namespace of its own.
func TestClusterScripts(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	t.Cleanup(clustertest.Stop)
	data, err := os.ReadFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	_, server, _ := strings.Cut(string(data), "server: ")
	server, _, _ = strings.Cut(server, "\n")
	p := params("testdata/cluster")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		env.Setenv("KUBECONFIG", kc)
		// For curl, standing in for kubectl as another field manager.
		env.Setenv("PKI", filepath.Join(filepath.Dir(kc), "pki"))
		env.Setenv("APISERVER", server)
		env.Setenv("NS", fmt.Sprintf("cli-%d", time.Now().UnixNano()%1e9))
		env.Setenv("BERTH_STATE_DIR", env.WorkDir+"/state")
		return setup(env)
	}
	testscript.Run(t, p)
}
