// Package depcheck keeps heavy or special-purpose dependencies where they
// belong: Kubernetes' modules in cluster/, cobra in internal/cli,
// compose-go in compose/.
package depcheck

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/voidnxlabs/berth"

// rules: an import path prefix, and the package prefixes that may import it
// directly (tests included).
var rules = []struct {
	dep     string
	allowed []string
}{
	{"k8s.io/", []string{module + "/cluster"}},
	{"sigs.k8s.io/", []string{module + "/cluster"}},
	{"github.com/spf13/cobra", []string{module + "/internal/cli"}},
	{"github.com/spf13/pflag", []string{module + "/internal/cli"}},
	// The Compose Specification's loader serves berth import compose only.
	{"github.com/compose-spec/", []string{module + "/compose"}},
}

// linked: only these packages (and the binary) may link Kubernetes'
// modules at all, so a library package never drags client-go into a
// program that does not ask for the cluster.
var linkK8s = []string{module + "/cluster", module + "/project/cluster", module + "/internal/cli", module + "/cmd/"}

func under(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

func list(t *testing.T, format string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", format, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

func TestImports(t *testing.T) {
	direct := list(t, `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`)
	if len(direct) < 10 {
		t.Fatalf("go list found only %d packages", len(direct))
	}
	for pkg, imports := range direct {
		for _, imp := range imports {
			for _, r := range rules {
				if strings.HasPrefix(imp, r.dep) && !under(pkg, r.allowed) {
					t.Errorf("%s imports %s; only %v may", pkg, imp, r.allowed)
				}
			}
		}
	}
	deps := list(t, `{{.ImportPath}} {{join .Deps " "}}`)
	for pkg, ds := range deps {
		if under(pkg, linkK8s) {
			continue
		}
		for _, d := range ds {
			if strings.HasPrefix(d, "k8s.io/") {
				t.Errorf("%s depends on %s; only %v may link Kubernetes' modules", pkg, d, linkK8s)
				break
			}
		}
	}
}
