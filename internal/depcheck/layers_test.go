package depcheck

import (
	"slices"
	"strings"
	"testing"
)

// layers is which berth packages each berth package may import, tests
// included, by path below the module. The pipeline (config → desired →
// plan → apply, runtime) sits at the bottom; the use-case layer (project)
// above it; the adapters (internal/cli, the web server) on top; cmd/berth
// only runs the CLI. A new import between berth packages must be added
// here, where a review sees it; the rules below it can never be added.
var layers = map[string]string{
	"aliases":                 "config",
	"apply":                   "apply desired health internal/testenv plan plan/plantest runtime runtime/fake runtime/scenariotest",
	"backup":                  "apply desired health image internal/atomicfile internal/extract internal/fixture internal/testenv kits plan plan/plantest runtime runtime/runtimetest",
	"cluster":                 "cluster cluster/clustertest config desired gpu kits runtime",
	"cluster/clustertest":     "",
	"cluster/nodetest":        "cluster cluster/clustertest",
	"cmd/berth":               "internal/cli",
	"compose":                 "compose config desired internal/cli internal/fixture internal/golden internal/testenv kits", // its tests run import and export through the CLI
	"config":                  "config desired hostnet kits",
	"desired":                 "config desired kits runtime",
	"doctor":                  "doctor gpu gpu/gputest runtime",
	"e2e":                     "image internal/cli internal/testenv project proxy runtime",
	"examples/images/app":     "",
	"gpu":                     "desired gpu gpu/gputest internal/fixture internal/testenv runtime",
	"gpu/gputest":             "gpu internal/golden",
	"health":                  "desired runtime",
	"hostnet":                 "hostnet",
	"image":                   "image/deb image/deb/debtest internal/atomicfile internal/extract internal/golden internal/testenv runtime",
	"image/deb":               "image/deb/debtest internal/extract",
	"image/deb/debtest":       "",
	"internal/cli":            "aliases apply backup cluster cluster/clustertest compose config desired doctor gpu hostnet image image/deb internal/atomicfile internal/cli internal/fixture internal/termsafe internal/testenv kits ollama pgsql plan project project/cluster proxy runtime runtime/docker runtime/nspawn runtime/runtimetest state systemd volume web",
	"internal/depcheck":       "",
	"internal/atomicfile":     "",
	"internal/golden":         "",
	"internal/termsafe":       "",
	"internal/extract":        "internal/extract",
	"internal/fixture":        "runtime",
	"internal/fixture/server": "",
	"internal/testenv":        "runtime/docker",
	"kits":                    "",
	"ollama":                  "",
	"pgsql":                   "runtime",
	"plan":                    "apply desired internal/golden plan plan/plantest runtime runtime/fake",
	"plan/plantest":           "desired runtime",
	"project/cluster":         "cluster cluster/clustertest config desired image project",
	"project":                 "apply backup config desired doctor gpu health hostnet image image/deb internal/atomicfile kits ollama pgsql plan project proxy runtime runtime/docker runtime/fake runtime/nspawn runtime/podman state systemd toolbox volume",
	"proxy":                   "desired runtime",
	"runtime":                 "",
	"runtime/docker":          "internal/testenv runtime runtime/docker runtime/runtimetest runtime/stream",
	"runtime/fake":            "desired runtime runtime/fake runtime/runtimetest",
	"runtime/nspawn":          "internal/extract internal/fixture runtime runtime/nspawn runtime/runtimetest runtime/scenariotest",
	"runtime/podman":          "internal/golden runtime runtime/podman runtime/runtimetest runtime/scenariotest runtime/stream",
	"runtime/stream":          "",
	"runtime/runtimetest":     "desired health internal/fixture runtime",
	"runtime/scenariotest":    "apply desired internal/fixture plan plan/plantest runtime runtime/runtimetest",
	"state":                   "internal/atomicfile",
	"systemd":                 "desired internal/golden plan/plantest runtime systemd",
	"volume":                  "config runtime runtime/fake volume",
	"toolbox":                 "image image/deb internal/fixture internal/testenv runtime runtime/nspawn runtime/podman",
}

// adapters may import the use-case layer; web and serve (the HTTP
// adapter) may import any berth package but the CLI.
var adapters = []string{"internal/cli", "web", "serve", "e2e", "cmd/berth"}

// pipeline packages are what the use-case layer is made of; they never
// reach up into it or into an adapter.
var pipeline = []string{"config", "desired", "plan", "apply", "runtime", "health", "state", "kits", "gpu", "image",
	"backup", "proxy", "cluster", "systemd", "doctor", "compose", "ollama", "pgsql", "toolbox", "hostnet", "aliases", "volume"}

func TestLayers(t *testing.T) {
	prod := list(t, `{{.ImportPath}} {{join .Imports " "}}`)
	imports := list(t, `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`)
	rel := func(p string) (string, bool) {
		if p == module {
			return ".", true
		}
		r, ok := strings.CutPrefix(p, module+"/")
		return r, ok
	}
	for pkgPath, imps := range imports {
		pkg, _ := rel(pkgPath)
		allowed, known := layers[pkg]
		for _, ip := range imps {
			imp, ok := rel(ip)
			if !ok || imp == pkg {
				continue
			}
			// The rules hold for what a package links; its tests may drive
			// an adapter where the table says so.
			switch inProd := slices.Contains(prod[pkgPath], ip); {
			case !inProd:
			case imp == "internal/cli" && pkg != "cmd/berth":
				t.Errorf("%s imports internal/cli: only cmd/berth (and the end-to-end tests) may; call the project package instead", pkg)
				continue
			case under(imp, []string{"project"}) && !under(pkg, adapters) && !under(pkg, []string{"project"}):
				t.Errorf("%s imports %s, the use-case layer: only the adapters %v may", pkg, imp, adapters)
				continue
			case under(pkg, []string{"web", "serve"}) && under(imp, []string{"project/cluster", "cluster"}):
				t.Errorf("%s imports %s: the HTTP adapter must not link Kubernetes' client; only the CLI runs the cluster use cases", pkg, imp)
				continue
			case under(pkg, pipeline) && (under(imp, []string{"project"}) || under(imp, adapters)):
				t.Errorf("pipeline package %s imports %s: the pipeline never reaches up into the use-case layer or an adapter", pkg, imp)
				continue
			}
			if under(pkg, []string{"web", "serve"}) {
				continue // the HTTP adapter may use any layer below it
			}
			if !known {
				t.Errorf("package %s is not in the layering table (internal/depcheck/layers_test.go): add it with the berth packages it imports", pkg)
				break
			}
			if !slices.Contains(strings.Fields(allowed), imp) {
				t.Errorf("%s imports %s, an edge not in the layering table (internal/depcheck/layers_test.go): add it there if it is meant", pkg, imp)
			}
		}
	}
}
