package nspawn

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/runtime"
)

// DefaultCDIDirs are where CDI specs are looked for, as in Podman and the
// NVIDIA container toolkit (`nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`).
var DefaultCDIDirs = []string{"/etc/cdi", "/var/run/cdi"}

// cdiSpec is the part of a Container Device Interface spec berth applies:
// device nodes, mounts and environment. Hooks (such as the toolkit's
// ldcache update) are OCI hooks, which nspawn does not run.
type cdiSpec struct {
	Kind    string `yaml:"kind" json:"kind"`
	Devices []struct {
		Name           string   `yaml:"name" json:"name"`
		ContainerEdits cdiEdits `yaml:"containerEdits" json:"containerEdits"`
	} `yaml:"devices" json:"devices"`
	ContainerEdits cdiEdits `yaml:"containerEdits" json:"containerEdits"`
}

type cdiEdits struct {
	Env         []string `yaml:"env" json:"env"`
	DeviceNodes []struct {
		Path     string `yaml:"path" json:"path"`
		HostPath string `yaml:"hostPath" json:"hostPath"`
	} `yaml:"deviceNodes" json:"deviceNodes"`
	Mounts []struct {
		HostPath      string   `yaml:"hostPath" json:"hostPath"`
		ContainerPath string   `yaml:"containerPath" json:"containerPath"`
		Options       []string `yaml:"options" json:"options"`
	} `yaml:"mounts" json:"mounts"`
}

// gpuEdits is what a machine's GPU requests add to it.
type gpuEdits struct {
	Env     []string         `json:"env,omitempty"`
	Devices []runtime.Device `json:"devices,omitempty"`
	Mounts  []runtime.Mount  `json:"mounts,omitempty"`
}

// cdiNames turns GPU requests into CDI device names: CDI requests name
// them; an nvidia driver request means the toolkit's nvidia.com/gpu
// devices, as Podman treats it.
func cdiNames(reqs []runtime.GPURequest) ([]string, error) {
	var out []string
	for _, g := range reqs {
		switch g.Driver {
		case "cdi":
			out = append(out, g.DeviceIDs...)
		case "nvidia", "":
			if len(g.DeviceIDs) == 0 {
				if g.Count != -1 && g.Count != 0 {
					return nil, fmt.Errorf("gpu request for %d devices: nspawn takes all gpus or named ones", g.Count)
				}
				out = append(out, "nvidia.com/gpu=all")
			}
			for _, id := range g.DeviceIDs {
				out = append(out, "nvidia.com/gpu="+id)
			}
		default:
			return nil, fmt.Errorf("gpu driver %q: nspawn supports cdi and nvidia", g.Driver)
		}
	}
	return out, nil
}

// resolveCDI finds each named device in the specs under dirs and returns
// the edits that give a machine those devices: each device's own, and
// once per spec the edits common to its devices.
func resolveCDI(dirs []string, names []string) (gpuEdits, error) {
	var out gpuEdits
	if len(names) == 0 {
		return out, nil
	}
	specs := map[string][]cdiSpec{}
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*"))
		slices.Sort(files)
		for _, f := range files {
			if ext := filepath.Ext(f); ext != ".yaml" && ext != ".yml" && ext != ".json" {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return out, fmt.Errorf("reading cdi spec %s: %w", f, err)
			}
			var s cdiSpec
			// JSON is YAML: one decoder reads both.
			if err := yaml.Unmarshal(data, &s); err != nil {
				return out, fmt.Errorf("reading cdi spec %s: %w", f, err)
			}
			specs[s.Kind] = append(specs[s.Kind], s)
		}
	}
	common := map[*cdiSpec]bool{}
	for _, n := range names {
		kind, dev, ok := strings.Cut(n, "=")
		if !ok {
			return out, fmt.Errorf("cdi device %q: want vendor/class=name", n)
		}
		found := false
		for i := range specs[kind] {
			s := &specs[kind][i]
			for _, d := range s.Devices {
				if d.Name != dev {
					continue
				}
				found = true
				out.add(d.ContainerEdits)
				if !common[s] {
					common[s] = true
					out.add(s.ContainerEdits)
				}
			}
		}
		if !found {
			return out, fmt.Errorf("%w: cdi device %s in %s (generate the specs with 'nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml', or use gpu mode devices)", runtime.ErrNotFound, n, strings.Join(dirs, ", "))
		}
	}
	return out, nil
}

func (g *gpuEdits) add(e cdiEdits) {
	for _, kv := range e.Env {
		if !slices.Contains(g.Env, kv) {
			g.Env = append(g.Env, kv)
		}
	}
	for _, d := range e.DeviceNodes {
		host := d.HostPath
		if host == "" {
			host = d.Path
		}
		dev := runtime.Device{Host: host, Container: d.Path, Permissions: "rwm"}
		if !slices.Contains(g.Devices, dev) {
			g.Devices = append(g.Devices, dev)
		}
	}
	for _, m := range e.Mounts {
		mt := runtime.Mount{Source: m.HostPath, Target: m.ContainerPath, ReadOnly: slices.Contains(m.Options, "ro")}
		if !slices.Contains(g.Mounts, mt) {
			g.Mounts = append(g.Mounts, mt)
		}
	}
}
