package compose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/compose"
	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/internal/cli"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/kits"
)

// This file's tests use the subnets 172.31.231.0/24 and 172.31.232.0/24,
// host ports 28231 and 28232 (below the kernel's ephemeral range
// 32768-60999, so no outgoing connection of another test can hold them)
// and the project names berthcmp, berthcmpb and berthcmpx; they run one
// after the other, never at once.

// composeBinary returns Docker Compose v2, built (once, cached) by the
// project's script.
func composeBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BERTH_DOCKER_COMPOSE"); p != "" {
		return p
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", "../scripts/compose-peer.sh")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("building docker compose: %v\n%s", err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// inspected is the part of docker inspect the comparison reads.
type inspected struct {
	Name   string
	Config struct {
		Cmd         []string
		Env         []string
		User        string
		WorkingDir  string
		Labels      map[string]string
		Healthcheck *struct {
			Test     []string
			Interval time.Duration
			Timeout  time.Duration
			Retries  int
		}
	}
	HostConfig struct {
		Memory        int64
		NanoCpus      int64
		PidsLimit     *int64
		ShmSize       int64
		RestartPolicy struct{ Name string }
		PortBindings  map[string][]struct{ HostIp, HostPort string }
	}
	Mounts []struct {
		Type        string
		Source      string
		Destination string
		RW          bool
	}
	State struct {
		Status string
		Health *struct{ Status string }
	}
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress string
			Gateway   string
		}
	}
}

func inspect(t *testing.T, names ...string) map[string]inspected {
	t.Helper()
	var got []inspected
	if err := json.Unmarshal([]byte(run(t, nil, "docker", append([]string{"inspect"}, names...)...)), &got); err != nil {
		t.Fatal(err)
	}
	out := map[string]inspected{}
	for i, c := range got {
		out[names[i]] = c
	}
	return out
}

// facts renders what must match between two containers made from the
// same service, one line each; dir is replaced in mount sources so that
// the two copies of the project compare equal.
func facts(c inspected, dir string) []string {
	var out []string
	add := func(k string, v any) { out = append(out, fmt.Sprintf("%-12s %v", k, v)) }
	for _, n := range c.NetworkSettings.Networks {
		add("address", n.IPAddress+" via "+n.Gateway)
	}
	env := append([]string(nil), c.Config.Env...)
	sort.Strings(env)
	add("env", strings.Join(env, " "))
	add("cmd", strings.Join(c.Config.Cmd, " "))
	add("user", c.Config.User)
	add("workdir", c.Config.WorkingDir)
	add("label", c.Config.Labels["org.example.tier"])
	var mounts []string
	for _, m := range c.Mounts {
		src := strings.Replace(m.Source, dir, "$DIR", 1)
		if m.Type != "bind" || !strings.HasPrefix(src, "$DIR") || strings.HasPrefix(src, "$DIR/volumes/") {
			// A compose named volume is an engine volume, berth's a
			// directory under volumesPath: only where it is mounted compares.
			src = "(volume)"
		}
		mounts = append(mounts, fmt.Sprintf("%s:%s:rw=%v", src, m.Destination, m.RW))
	}
	sort.Strings(mounts)
	add("mounts", strings.Join(mounts, " "))
	var ports []string
	for p, bs := range c.HostConfig.PortBindings {
		for _, b := range bs {
			ports = append(ports, b.HostIp+":"+b.HostPort+"->"+p)
		}
	}
	sort.Strings(ports)
	add("ports", strings.Join(ports, " "))
	pids := int64(0)
	if c.HostConfig.PidsLimit != nil {
		pids = *c.HostConfig.PidsLimit
	}
	add("limits", fmt.Sprintf("memory=%d cpus=%d pids=%d shm=%d", c.HostConfig.Memory, c.HostConfig.NanoCpus, pids, c.HostConfig.ShmSize))
	add("restart", c.HostConfig.RestartPolicy.Name)
	if h := c.Config.Healthcheck; h != nil {
		add("healthcheck", strings.Join(h.Test, " "))
	}
	health := ""
	if c.State.Health != nil {
		health = c.State.Health.Status
	}
	add("state", c.State.Status+" "+health)
	return out
}

// TestDockerComposeParity brings each runnable case (testdata/*/parity
// lists its services) up three ways on the real engine, one after the
// other: with docker compose from the compose files, with berth from the
// imported berth.yaml, and with docker compose from berth export compose
// of that config. The containers must agree on addresses, environment,
// mounts, published ports, health, limits, restart policy, labels, user
// and working directory.
func TestDockerComposeParity(t *testing.T) {
	e := testenv.Docker(t)
	if testing.Short() {
		t.Skip("brings containers up; not in -short")
	}
	ref := fixture.Load(t, e)
	dc := composeBinary(t)
	cases, _ := filepath.Glob("testdata/*/parity")
	if len(cases) < 2 {
		t.Fatalf("runnable cases: %v", cases)
	}
	for _, pf := range cases {
		dir, _ := filepath.Abs(filepath.Dir(pf))
		t.Run(filepath.Base(dir), func(t *testing.T) { parity(t, dc, ref, dir) })
	}
}

func parity(t *testing.T, dc, ref, src string) {
	data, _ := os.ReadFile(filepath.Join(src, "parity"))
	services := strings.Fields(string(data))
	opts := caseOptions(t, src)
	env := []string{"FIXTURE_IMAGE=" + ref}
	var fileArgs []string
	for _, f := range opts.Files {
		fileArgs = append(fileArgs, "-f", f)
	}

	// 1. docker compose up from the compose files.
	dirA := copyDir(t, src)
	composeIn := func(dir, project string, files []string, args ...string) {
		t.Helper()
		cmd := append(append([]string{"--project-directory", dir}, files...), append([]string{"-p", project}, args...)...)
		run(t, env, dc, cmd...)
	}
	inDir := func(dir string, files []string) []string {
		var out []string
		for i := 0; i < len(files); i += 2 {
			out = append(out, "-f", filepath.Join(dir, files[i+1]))
		}
		return out
	}
	projA := filepath.Base(src) + "-a"
	t.Cleanup(func() {
		exec.Command(dc, append(inDir(dirA, fileArgs), "-p", projA, "down", "-v", "--timeout", "1")...).Run()
	})
	composeIn(dirA, projA, inDir(dirA, fileArgs), "up", "-d", "--wait", "--wait-timeout", "60")
	var namesA, namesB []string
	for _, s := range services {
		namesA = append(namesA, projA+"-"+s+"-1")
		namesB = append(namesB, kits.ContainerName(opts.Kit, s))
	}
	fromCompose := inspect(t, namesA...)
	composeIn(dirA, projA, inDir(dirA, fileArgs), "down", "-v", "--timeout", "1")

	// 2. berth up from the imported config.
	dirB := copyDir(t, src)
	cfgFile := filepath.Join(dirB, "berth.yaml")
	project := strings.ReplaceAll(filepath.Base(src), "-", "") + "b"
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("project: %s\nvolumesPath: %s\n", project, filepath.Join(dirB, "volumes"))), 0o644)
	opts.Dir, opts.Environ, opts.Config = dirB, env, cfgFile
	res, err := compose.Import(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfgFile, res.YAML, 0o644)
	state := t.TempDir()
	berth := func(args ...string) {
		t.Helper()
		var o, eb bytes.Buffer
		if code := cli.Main(append([]string{"-f", cfgFile, "--state-dir", state}, args...), strings.NewReader(""), &o, &eb); code != 0 {
			t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, o.String(), eb.String())
		}
	}
	t.Cleanup(func() {
		cli.Main([]string{"-f", cfgFile, "--state-dir", state, "down"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	})
	berth("up", "--wait", "--timeout", "60s")
	waitHealthy(t, namesB...)
	// berth status runs the exec checks through the engine too.
	var o, eb bytes.Buffer
	if code := cli.Main([]string{"-f", cfgFile, "--state-dir", state, "status", "--json"}, strings.NewReader(""), &o, &eb); code != 0 {
		t.Fatalf("berth status: exit %d: %s", code, eb.String())
	}
	for _, c := range statusRows(t, o.Bytes()) {
		if sc := res.State.Container(c.Name); sc != nil && sc.Health != nil && c.Health != "healthy" {
			t.Errorf("berth status: %s is %q (%s), want healthy", c.Name, c.Health, c.Detail)
		}
	}
	fromBerth := inspect(t, namesB...)
	volDir := filepath.Join(dirB, "volumes", project, "cache")
	if _, err := os.Stat(volDir); err == nil {
		os.WriteFile(filepath.Join(volDir, "kept"), []byte("x"), 0o644)
		o.Reset()
		eb.Reset()
		if code := cli.Main([]string{"-f", cfgFile, "--state-dir", state, "volume", "rm", "cache"}, strings.NewReader(""), &o, &eb); code != 1 || !strings.Contains(eb.String(), "volume in use by") {
			t.Errorf("volume rm while a container mounts it: exit %d, %s", code, eb.String())
		}
	}
	berth("down")
	if _, err := os.Stat(volDir); err == nil {
		// Named volumes outlive down, and go only by name.
		if _, err := os.Stat(filepath.Join(volDir, "kept")); err != nil {
			t.Errorf("down removed the named volume's data: %v", err)
		}
		berth("volume", "rm", "cache")
		if _, err := os.Stat(volDir); !os.IsNotExist(err) {
			t.Errorf("volume rm left %s: %v", volDir, err)
		}
	}

	// 3. docker compose up from berth export compose of that config.
	cfg, err := config.Load(config.LoadOptions{File: cfgFile, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	st, err := desired.Compile(cfg, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := compose.Export(cfg, st, compose.ExportOptions{SecretsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(dirB, "exported.yaml")
	os.WriteFile(exported, ex.YAML, 0o644)
	run(t, nil, dc, "-f", exported, "config", "-q")
	projX := project + "x"
	t.Cleanup(func() { exec.Command(dc, "-f", exported, "-p", projX, "down", "-v", "--timeout", "1").Run() })
	run(t, nil, dc, "-f", exported, "-p", projX, "up", "-d", "--wait", "--wait-timeout", "60")
	fromExport := inspect(t, namesB...)
	run(t, nil, dc, "-f", exported, "-p", projX, "down", "-v", "--timeout", "1")

	for i, svc := range services {
		a := facts(fromCompose[namesA[i]], dirA)
		b := facts(fromBerth[namesB[i]], dirB)
		x := facts(fromExport[namesB[i]], dirB)
		t.Logf("%s: docker compose up | berth up from the import | docker compose up from the export", svc)
		for j := range a {
			mark := "  "
			if a[j] != b[j] || b[j] != x[j] {
				mark = "!="
			}
			t.Logf("%s %s | %s | %s", mark, a[j], strings.TrimSpace(b[j][12:]), strings.TrimSpace(x[j][12:]))
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: berth's container differs from docker compose's (see the table above)", svc)
		}
		if !reflect.DeepEqual(b, x) {
			t.Errorf("%s: the exported compose file's container differs from berth's (see the table above)", svc)
		}
	}
	// A service of a profile nobody asked for runs under neither.
	for _, c := range res.Config.Kit(opts.Kit).Services {
		if !c.Enable && c.InFile {
			if out, _ := exec.Command("docker", "ps", "-aq", "--filter", "name=^"+c.Container+"$").Output(); len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("%s runs, but its profile was not given", c.Container)
			}
		}
	}
}

type statusRow struct {
	Name, Health string
	Detail       string `json:"healthDetail"`
}

// statusRows finds the container rows in berth status --json, whatever
// object holds the list.
func statusRows(t *testing.T, data []byte) []statusRow {
	t.Helper()
	var rows []statusRow
	if json.Unmarshal(data, &rows) == nil && len(rows) > 0 {
		return rows
	}
	var wrapped map[string]json.RawMessage
	if err := json.Unmarshal(data, &wrapped); err != nil {
		t.Fatalf("berth status --json: %v\n%s", err, data)
	}
	for _, v := range wrapped {
		if json.Unmarshal(v, &rows) == nil && len(rows) > 0 && rows[0].Name != "" {
			return rows
		}
	}
	t.Fatalf("no container rows in berth status --json:\n%s", data)
	return nil
}

// waitHealthy polls until the engine reports the containers' own health
// checks healthy (berth's wait ran the same commands through exec), or
// running for those without one.
func waitHealthy(t *testing.T, names ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		all := true
		for _, c := range inspect(t, names...) {
			if c.State.Health == nil {
				all = all && c.State.Status == "running"
			} else {
				all = all && c.State.Health.Status == "healthy"
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v not healthy by the engine's check within 60s", names)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDockerComposeConfigAcceptsSeedExport: docker compose config accepts
// the export of the seed config.
func TestDockerComposeConfigAcceptsSeedExport(t *testing.T) {
	testenv.Docker(t)
	dc := composeBinary(t)
	seed, err := config.Parse("berth.yaml", kits.Seed(), config.ParseOptions{DefaultProject: "x"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := desired.Compile(seed, desired.Options{Secret: func(string) (string, error) { return "s3cret", nil }})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ex, err := compose.Export(seed, st, compose.ExportOptions{SecretsDir: filepath.Join(dir, "secrets")})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "compose.yaml")
	os.WriteFile(file, ex.YAML, 0o644)
	out := run(t, nil, dc, "-f", file, "config", "--format", "json")
	var model struct {
		Services map[string]struct {
			ContainerName string `json:"container_name"`
			Networks      map[string]struct {
				IPv4Address string `json:"ipv4_address"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &model); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Containers {
		found := false
		for _, s := range model.Services {
			if s.ContainerName == c.Spec.Name {
				found = true
				if s.Networks[c.Kit].IPv4Address != c.Address.String() {
					t.Errorf("%s: compose address %s, want %s", c.Spec.Name, s.Networks[c.Kit].IPv4Address, c.Address)
				}
			}
		}
		if !found {
			t.Errorf("%s is not in docker compose config's model", c.Spec.Name)
		}
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if strings.HasSuffix(p, ".golden") || rel == "args" || rel == "parity" {
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
