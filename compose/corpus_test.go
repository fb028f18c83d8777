package compose_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/compose"
	"github.com/voidnxlabs/berth/internal/golden"
)

// TestCorpus imports each compose project under testdata (written in the
// shapes real projects publish), checks that the result validates and
// compiles, and compares the written berth.yaml, the notes and the
// offline plan with the goldens. BERTH_UPDATE=1 rewrites the goldens.
func TestCorpus(t *testing.T) {
	cases, err := filepath.Glob("testdata/*/args")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, argsFile := range cases {
		dir := filepath.Dir(argsFile)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, _ := filepath.Abs(dir)
			opts := caseOptions(t, abs)
			opts.Config = filepath.Join(t.TempDir(), "berth.yaml")
			res, err := compose.Import(t.Context(), opts)
			if err != nil {
				if res != nil {
					t.Logf("written:\n%s", res.YAML)
				}
				t.Fatal(err)
			}
			clean := func(s string) string { return strings.ReplaceAll(s, abs, "$DIR") }
			var notes strings.Builder
			for _, n := range res.Notes {
				notes.WriteString(n.String() + "\n")
			}
			checkGolden(t, filepath.Join(dir, "berth.yaml.golden"), clean(string(res.YAML)))
			checkGolden(t, filepath.Join(dir, "notes.golden"), clean(notes.String()))
			checkGolden(t, filepath.Join(dir, "plan.golden"), clean(res.State.String()))
		})
	}
}

// caseOptions reads a case's args: compose files, then --kit and
// --profile flags.
func caseOptions(t *testing.T, dir string) compose.ImportOptions {
	data, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	opts := compose.ImportOptions{Dir: dir, Environ: []string{}}
	f := strings.Fields(string(data))
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "--kit":
			i++
			opts.Kit = f[i]
		case "--profile":
			i++
			opts.Profiles = append(opts.Profiles, f[i])
		default:
			opts.Files = append(opts.Files, f[i])
		}
	}
	return opts
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	golden.Check(t, path, []byte(got))
}

// TestImportIntoExistingKit: services are added to a kit the config
// already has, on its subnet; the rest of the file, comments included,
// stays; a compose subnet that differs is noted, not used.
func TestImportIntoExistingKit(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "berth.yaml")
	existing := "# my workstation\nproject: home\n\nweb:\n  network: {subnet: 192.168.230.0/24}  # the web kit\n  cache: {image: redis:7, port: 6379}\n\nstacks:\n  mine: [web/cache]\n"
	os.WriteFile(cfgFile, []byte(existing), 0o644)
	os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  app:
    image: example/app:1
    profiles: [extra]
    networks:
      default:
        ipv4_address: 10.9.0.5
networks:
  default:
    ipam:
      config: [{subnet: 10.9.0.0/24}]
`), 0o644)
	res, err := compose.Import(t.Context(), compose.ImportOptions{Files: []string{"compose.yaml"}, Dir: dir, Kit: "web", Config: cfgFile, Profiles: []string{"extra"}})
	if err == nil {
		t.Fatalf("a compose address outside the existing kit's subnet imported:\n%s", res.YAML)
	}
	if !strings.Contains(err.Error(), "web.app.ip: address 10.9.0.5 is outside the web subnet 192.168.230.0/24") {
		t.Errorf("err = %v", err)
	}
	found := false
	for _, n := range res.Notes {
		found = found || strings.Contains(n.String(), "kit web already has subnet 192.168.230.0/24; the compose subnet 10.9.0.0/24 is not used")
	}
	if !found {
		t.Errorf("no note about the subnet: %v", res.Notes)
	}

	// Without the fixed address it goes in.
	os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  app:\n    image: example/app:1\n    profiles: [extra]\n"), 0o644)
	res, err = compose.Import(t.Context(), compose.ImportOptions{Files: []string{"compose.yaml"}, Dir: dir, Kit: "web", Config: cfgFile, Profiles: []string{"extra"}})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.YAML)
	for _, want := range []string{"# my workstation", "# the web kit", "cache:", "app:", "mine: [web/cache]", "extra: [web/app]"} {
		if !strings.Contains(out, want) {
			t.Errorf("result lacks %q:\n%s", want, out)
		}
	}
	if c := res.State.Container("web-app"); c == nil || !strings.HasPrefix(c.Address.String(), "192.168.230.") {
		t.Errorf("web-app = %+v, want an address in the existing kit", c)
	}
}

// TestImportIntoConfigWithDotEnv: a config that takes ${VAR} from the
// .env next to it is read and checked as berth loads it.
func TestImportIntoConfigWithDotEnv(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "berth.yaml")
	os.WriteFile(cfgFile, []byte("project: home\nweb:\n  network:\n    subnet: ${WEB_SUBNET}\n  cache: {image: 'redis:7'}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("WEB_SUBNET=192.168.231.0/24\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  app:\n    image: example/app:1\n"), 0o644)
	res, err := compose.Import(t.Context(), compose.ImportOptions{Files: []string{"compose.yaml"}, Dir: dir, Kit: "web", Config: cfgFile})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.State.Container("web-app"); c == nil || !strings.HasPrefix(c.Address.String(), "192.168.231.") {
		t.Errorf("web-app = %+v, want an address in the .env subnet", c)
	}
}
