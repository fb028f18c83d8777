package config_test

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/hostnet"
	"github.com/voidnxlabs/berth/kits"
)

// TestControlCharactersAreRefused covers issue 14 row 7: a newline in an
// image made a working directive in a generated unit file. Every string
// option is checked, wherever it is.
func TestControlCharactersAreRefused(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"image", "ml:\n  ollama: { image: \"nginx:1\\n[Service]\\nExecStartPre=/usr/bin/id\" }\n"},
		{"env value", "ml:\n  ollama: { env: { A: \"x\\ny\" } }\n"},
		{"env key", "ml:\n  ollama: { env: { \"A\\nB\": y } }\n"},
		{"label", "ml:\n  ollama: { labels: { a: \"\\e[2J\" } }\n"},
		{"mount", "ml:\n  ollama: { mounts: [\"/a\\n:/b\"] }\n"},
		{"mount mapping", "ml:\n  ollama: { mounts: [{source: \"/a\\r\", target: /b}] }\n"},
		{"user", "ml:\n  ollama: { user: \"1\\n\" }\n"},
		{"hostname", "ml:\n  ollama: { hostname: \"a\\tb\" }\n"},
		{"command", "ml:\n  ollama: { command: \"serve\\n--x\" }\n"},
		{"entrypoint", "ml:\n  ollama: { entrypoint: [\"/bin/sh\\u0000\"] }\n"},
		{"path option", "ml:\n  ollama: { modelsPath: \"/srv/m\\n\" }\n"},
		{"bidi override", "ml:\n  ollama: { env: { A: \"safe\\u202e\" } }\n"},
		{"C1", "ml:\n  ollama: { env: { A: \"x\\u009by\" } }\n"},
		{"recipe", "images:\n  r: { suite: bookworm, entrypoint: [\"/x\\ny\"] }\n"},
		{"dotted key", "ml:\n  \"ollama.env.\\e\": x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src, nil)
			var ces config.Errors
			if !errors.As(err, &ces) {
				t.Fatalf("accepted:\n%s", tc.src)
			}
			found := false
			for _, e := range ces {
				found = found || strings.Contains(e.Msg, "control character")
			}
			if !found {
				t.Errorf("no control character error: %v", err)
			}
		})
	}
	// File contents of recipes are text of any kind.
	if _, err := parse(t, "images:\n  r: { suite: bookworm, files: [{path: /etc/x, content: \"a\\n\\tb\\n\"}] }\n", nil); err != nil {
		t.Errorf("recipe file content with a newline refused: %v", err)
	}
	// An interpolated variable is checked after substitution.
	if _, err := parse(t, "ml:\n  ollama: { env: { A: \"${X}\" } }\n", map[string]string{"X": "a\nb"}); err == nil {
		t.Error("a newline from an environment variable was accepted")
	}
}

func TestImageReferences(t *testing.T) {
	for _, ok := range []string{"redis", "redis:7", "docker.io/library/redis:7", "localhost:5000/a/b:c", "ghcr.io/voidnxlabs/redis:latest",
		"x@sha256:" + strings.Repeat("a", 64), "berth-fixture:script"} {
		if _, err := parse(t, "lab:\n  network: {subnet: 192.168.220.0/24}\n  s: { image: \""+ok+"\" }\n", nil); err != nil {
			t.Errorf("image %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"Redis", "redis:7 --privileged", "redis:", "-redis", "redis:7;id", "a//b", "redis@sha256:12"} {
		if _, err := parse(t, "lab:\n  network: {subnet: 192.168.220.0/24}\n  s: { image: \""+bad+"\" }\n", nil); err == nil {
			t.Errorf("image %q accepted", bad)
		}
	}
	// The catalog's own images are references too.
	for _, k := range kits.All() {
		for _, s := range k.Services {
			if _, err := parse(t, k.Name+":\n  "+s.Name+": { image: \""+s.Image+"\" }\n", nil); err != nil {
				t.Errorf("catalog image %s of %s/%s: %v", s.Image, k.Name, s.Name, err)
			}
		}
	}
}

func TestHostNetworkOverlap(t *testing.T) {
	cfg := mustParse(t, "lab:\n  network: { subnet: 172.17.5.0/24 }\n  s: { image: x:1 }\nml:\n  ollama: {}\n")
	nets := []hostnet.Network{
		{Iface: "docker0", Prefix: netip.MustParsePrefix("172.17.0.0/16"), Addr: netip.MustParseAddr("172.17.0.1")},
		// The ml kit's own bridge from an earlier apply: the same subnet,
		// holding the kit's host address.
		{Iface: "br-1234", Prefix: netip.MustParsePrefix("192.168.200.0/24"), Addr: netip.MustParseAddr("192.168.200.10")},
	}
	errs := config.CheckHostNetworks(cfg, nets)
	if len(errs) != 1 || errs[0].Path != "lab.network.subnet" || errs[0].Pos.Line != 2 ||
		!strings.Contains(errs[0].Msg, "172.17.0.0/16 (docker0)") {
		t.Fatalf("errors = %v, want one at lab.network.subnet line 2 naming docker0", errs)
	}
	if strings.Contains(errs[0].Hint, "172.17") || !strings.Contains(errs[0].Hint, "--offline") {
		t.Errorf("hint %q", errs[0].Hint)
	}
	// A foreign network on the ml subnet (another address) is refused.
	nets[1].Addr = netip.MustParseAddr("192.168.200.1")
	if errs := config.CheckHostNetworks(cfg, nets); len(errs) != 2 {
		t.Errorf("errors = %v, want 2", errs)
	}
	// A disabled kit takes no network.
	cfg = mustParse(t, "lab:\n  enable: false\n  network: { subnet: 172.17.5.0/24 }\n  s: { image: x:1 }\n")
	if errs := config.CheckHostNetworks(cfg, nets); len(errs) != 0 {
		t.Errorf("disabled kit: %v", errs)
	}
}

func TestSubnetCapacity(t *testing.T) {
	src := "lab:\n  network: { subnet: 192.168.220.0/28 }\n"
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"} {
		src += "  " + n + ": { image: x:1 }\n"
	}
	// 14 usable addresses, one is the host's: 13 services fit.
	cfg := mustParse(t, src)
	if _, err := config.Parse("x", []byte(src+"  n: { image: x:1 }\n"), config.ParseOptions{}); err == nil || !strings.Contains(err.Error(), "lab-n does not fit") {
		t.Errorf("14 services in a /28: err = %v", err)
	}
	// A service of another kit connecting to lab takes an address there.
	src2 := src + "other:\n  network: { subnet: 192.168.230.0/24 }\n  x: { image: x:1, connect: [lab] }\n"
	if _, err := config.Parse("x", []byte(src2), config.ParseOptions{}); err == nil || !strings.Contains(err.Error(), "other-x does not fit") {
		t.Errorf("connect into a full kit: err = %v", err)
	}
	_ = cfg
}

func TestExposedPublish(t *testing.T) {
	base := "lab:\n  network: { subnet: 192.168.220.0/24 }\n"
	for _, tc := range []struct {
		src string
		ok  bool
	}{
		{base + "  s: { image: x:1, port: 80, publish: true }\n", true},
		{base + "  s: { image: x:1, port: 80, publish: [\"127.0.0.2:80\"] }\n", true},
		{base + "  s: { image: x:1, port: 80, publish: [\"0.0.0.0:80\"] }\n", false},
		{base + "  s: { image: x:1, port: 80, publish: 10.0.0.1 }\n", false},
		{base + "  s: { image: x:1, port: 80, publish: [\"0.0.0.0:80\"], publishExposed: true }\n", true},
		{"publishAddress: 0.0.0.0\n" + base + "  s: { image: x:1, port: 80, publish: true }\n", false},
		{"publishAddress: 0.0.0.0\npublishExposed: true\n" + base + "  s: { image: x:1, port: 80, publish: true }\n", true},
		// dev/proxy publishes by default: on publishAddress.
		{"publishAddress: 0.0.0.0\ndev:\n  proxy: {}\n", false},
	} {
		_, err := parse(t, tc.src, nil)
		if (err == nil) != tc.ok {
			t.Errorf("ok = %v, want %v, err = %v:\n%s", err == nil, tc.ok, err, tc.src)
		}
	}
	cfg := mustParse(t, "publishAddress: 0.0.0.0\npublishExposed: true\ndev:\n  proxy: {}\n")
	if e := cfg.Exposed(); len(e) != 2 || e[0].Service.Container != "dev-proxy" {
		t.Errorf("Exposed() = %+v", e)
	}
}

// TestMountSeparators: a ':' or ',' in a mount path would add a mount or
// an option to Volume=, --bind= or -v.
func TestMountSeparators(t *testing.T) {
	for _, src := range []string{
		"ml:\n  ollama: { mounts: [{source: \"/a:/etc:rw\", target: /b}] }\n",
		"ml:\n  ollama: { mounts: [{source: /a, target: \"/b,ro\"}] }\n",
		"ml:\n  ollama: { modelsPath: \"/srv/a:/etc\" }\n",
		"ml:\n  ollama: { env: { \"A=B\": c } }\n",
		"ml:\n  ollama: { user: \"root --privileged\" }\n",
	} {
		if _, err := parse(t, src, nil); err == nil {
			t.Errorf("accepted:\n%s", src)
		}
	}
}

// TestEnvFileControlCharacters: values read from an envFile reach the
// engine like env's, so they follow the same rules.
func TestEnvFileControlCharacters(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/berth.yaml"
	if err := os.WriteFile(dir+"/app.env", []byte("GOOD=1\nBAD=\"a\\nb\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("ml:\n  ollama: { envFile: app.env }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(config.LoadOptions{File: file})
	if err == nil || !strings.Contains(err.Error(), "BAD contains the control character U+000A") {
		t.Errorf("err = %v", err)
	}
}
