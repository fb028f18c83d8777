package podman

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/internal/golden"
	"github.com/voidnxlabs/berth/runtime"
)

// TestSpec pins the libpod spec berth sends for a full container spec:
// networks with static addresses and MACs, CDI GPUs, devices, cgroup
// rules, limits and the default ulimits. The GPU paths cannot be run
// here (no GPU); the golden shows what Podman receives.
func TestSpec(t *testing.T) {
	e := &Engine{ulimits: DefaultUlimits}
	spec := runtime.ContainerSpec{
		Name:       "ml-ollama",
		Image:      "berth/ollama:0.17.4",
		Hostname:   "ollama",
		Entrypoint: []string{"/bin/ollama"},
		Cmd:        []string{"serve"},
		Env:        []string{"A=1", "OLLAMA_HOST=0.0.0.0:11434"},
		User:       "1000:1000",
		WorkingDir: "/home/ollama",
		Labels:     map[string]string{runtime.LabelProject: "kernelcore", runtime.LabelConfigHash: "abc"},
		Networks: []runtime.Endpoint{
			{Network: "kernelcore-ml", IP: netip.MustParseAddr("192.168.200.11"), Aliases: []string{"ollama"}},
			{Network: "kernelcore-dev", IP: netip.MustParseAddr("192.168.210.111")},
		},
		Ports:             []runtime.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 11434, ContainerPort: 11434, Protocol: "tcp"}},
		Mounts:            []runtime.Mount{{Source: "/var/lib/ollama/models", Target: "/models"}, {Source: "/etc/berth/ca.pem", Target: "/ca.pem", ReadOnly: true}},
		Devices:           []runtime.Device{{Host: "/dev/dri/renderD128"}, {Host: "/dev/null", Container: "/dev/berth-null", Permissions: "rwm"}},
		DeviceCgroupRules: []string{"c 195:* rwm"},
		GroupAdd:          []string{"44"},
		GPUs: []runtime.GPURequest{
			{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=GPU-4a2c"}},
			{Driver: "nvidia", Count: -1},
		},
		Resources:   runtime.Resources{MemoryBytes: 8 << 30, NanoCPUs: 1_500_000_000, ShmBytes: 1 << 30, PidsLimit: 4096},
		Ulimits:     []runtime.Ulimit{{Name: "nofile", Soft: 65536, Hard: 65536}, {Name: "memlock", Soft: -1, Hard: -1}},
		Restart:     "unless-stopped",
		Healthcheck: &runtime.Healthcheck{Test: []string{"CMD", "/bin/ollama", "list"}, Interval: 10 * time.Second, Retries: 3},
		StopTimeout: 10 * time.Second,
		Init:        true,
	}
	s, err := e.toSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "spec.golden.json"), append(got, '\n'))
}

func TestSpecErrors(t *testing.T) {
	e := &Engine{ulimits: DefaultUlimits}
	for _, tc := range []struct {
		spec runtime.ContainerSpec
		want string
	}{
		{runtime.ContainerSpec{GPUs: []runtime.GPURequest{{Driver: "nvidia", Count: 2}}}, "podman takes all gpus or named ones"},
		{runtime.ContainerSpec{GPUs: []runtime.GPURequest{{Driver: "amd"}}}, `gpu driver "amd"`},
		{runtime.ContainerSpec{DeviceCgroupRules: []string{"c 195"}}, "want \"type major:minor access\""},
		{runtime.ContainerSpec{DeviceCgroupRules: []string{"c x:1 rwm"}}, "invalid syntax"},
		{runtime.ContainerSpec{Ports: []runtime.Port{{ContainerPort: 80}}}, "no host address"},
	} {
		if _, err := e.toSpec(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("toSpec(%+v) = %v, want an error with %q", tc.spec, err, tc.want)
		}
	}
}

func TestNoUlimits(t *testing.T) {
	e := &Engine{ulimits: []runtime.Ulimit{}}
	s, err := e.toSpec(runtime.ContainerSpec{Name: "x", Image: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rlimits) != 0 {
		t.Errorf("rlimits = %+v, want none", s.Rlimits)
	}
}
