package desired_test

import (
	"testing"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
)

func compile(t *testing.T, yaml string, prev *desired.State) *desired.State {
	t.Helper()
	cfg, err := config.Parse("berth.yaml", []byte(yaml), config.ParseOptions{Getenv: func(string) string { return "" }, DefaultProject: "p"})
	if err != nil {
		t.Fatal(err)
	}
	opts := desired.Options{}
	if prev != nil {
		opts.Previous = prev.Addresses()
	}
	st, err := desired.Compile(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const two = `
lab:
  network: { subnet: 10.9.0.0/24 }
  api: { image: "x:1" }
  web: { image: "x:1" }
`

// A service added later takes a free address; those given out before keep
// theirs, so adding a service never moves (and recreates) another.
func TestFirstFreeAddressesAreStable(t *testing.T) {
	first := compile(t, two, nil)
	if a, w := first.Container("lab-api").Address.String(), first.Container("lab-web").Address.String(); a != "10.9.0.11" || w != "10.9.0.12" {
		t.Fatalf("first addresses api %s web %s, want .11 and .12", a, w)
	}
	three := two + "  aaa: { image: \"x:1\" }\n"
	next := compile(t, three, first)
	for name, want := range map[string]string{"lab-api": "10.9.0.11", "lab-web": "10.9.0.12", "lab-aaa": "10.9.0.13"} {
		if got := next.Container(name).Address.String(); got != want {
			t.Errorf("%s at %s, want %s", name, got, want)
		}
	}
	if next.Container("lab-web").Hash != first.Container("lab-web").Hash {
		t.Error("adding a service changed another's config hash")
	}
	// Without the earlier table the new service would take .11 and move
	// the others: the table is what keeps them.
	fresh := compile(t, three, nil)
	if fresh.Container("lab-aaa").Address.String() != "10.9.0.11" {
		t.Errorf("without history lab-aaa at %s", fresh.Container("lab-aaa").Address)
	}
}

// The hash changes with what needs a recreate and only with that.
func TestHashCoversWhatRecreates(t *testing.T) {
	base := compile(t, two, nil).Container("lab-web").Hash
	for name, y := range map[string]string{
		"image": "\nlab:\n  network: { subnet: 10.9.0.0/24 }\n  api: { image: \"x:1\" }\n  web: { image: \"x:2\" }\n",
		"env":   "\nlab:\n  network: { subnet: 10.9.0.0/24 }\n  api: { image: \"x:1\" }\n  web: { image: \"x:1\", env: { A: b } }\n",
		"port":  "\nlab:\n  network: { subnet: 10.9.0.0/24 }\n  api: { image: \"x:1\" }\n  web: { image: \"x:1\", port: 80, publish: [\"127.0.0.1:8081:80\"] }\n",
	} {
		if compile(t, y, nil).Container("lab-web").Hash == base {
			t.Errorf("a change of %s kept the hash", name)
		}
	}
	same := compile(t, "\n# a comment and another order\nlab:\n  web: { image: \"x:1\" }\n  api: { image: \"x:1\" }\n  network: { subnet: 10.9.0.0/24 }\n", nil)
	if same.Container("lab-web").Hash != base {
		t.Error("reordering the file changed the hash")
	}
}

// The backup method comes from the catalog with the container, so backup
// never looks a service up by name; a user's service copies files.
func TestBackupMethodFromCatalog(t *testing.T) {
	st := compile(t, `
ml:
  ollama: { enable: true, modelsPath: /srv/models }
dev:
  postgres: { enable: true, dataPath: /srv/pg }
lab:
  network: { subnet: 10.9.0.0/24 }
  api: { image: "x:1" }
`, nil)
	want := map[string]string{"ml-ollama": "ollama", "dev-postgres": "pg_dumpall", "lab-api": ""}
	for name, method := range want {
		c := st.Container(name)
		if c == nil {
			t.Fatalf("no %s in %v", name, st.Containers)
		}
		if c.Backup != method {
			t.Errorf("%s: backup %q, want %q", name, c.Backup, method)
		}
	}
}
