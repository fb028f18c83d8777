package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Versions of the Helm charts bootstrap installs. Pinned so that two nodes
// bootstrapped months apart run the same storage and device plugin;
// BootstrapOptions override them.
const (
	LonghornVersion     = "1.9.1"
	DevicePluginVersion = "0.17.1"
)

// GPUNodeLabel marks GPU nodes; the device plugin runs only there.
const GPUNodeLabel = "nvidia.com/gpu.present"

// BootstrapOptions describe a k3s cluster for berth's kits.
type BootstrapOptions struct {
	// Server is the URL agents join (https://server:6443).
	Server string
	// TokenFile is the path of the cluster token on each node; the file is
	// named in the config instead of the token, so the config holds no
	// secret.
	TokenFile string
	// GPU labels the node as a GPU node.
	GPU bool
	// NodeLabels are extra node labels, key=value.
	NodeLabels []string
	// Replicas is Longhorn's replica count per volume; default 3, fewer on
	// smaller clusters (1 on a single node).
	Replicas int
	// DataPath is where Longhorn keeps volume data on each node.
	DataPath string
	// Versions of the charts; default LonghornVersion, DevicePluginVersion.
	LonghornVersion, DevicePluginVersion string
}

// Bootstrap is what `berth cluster bootstrap` writes.
type Bootstrap struct {
	// ServerConfig and AgentConfig are /etc/rancher/k3s/config.yaml for a
	// server and for an agent.
	ServerConfig, AgentConfig []byte
	// Manifest holds the cluster objects: the HelmCharts of Longhorn and
	// the NVIDIA device plugin, and the nvidia RuntimeClass.
	Manifest *Manifest
}

// RenderBootstrap renders the k3s configuration and add-ons for opts.
func RenderBootstrap(opts BootstrapOptions) (*Bootstrap, error) {
	if opts.TokenFile == "" {
		opts.TokenFile = "/etc/rancher/k3s/cluster-token"
	}
	if opts.Replicas == 0 {
		opts.Replicas = 3
	}
	if opts.Replicas < 1 {
		return nil, fmt.Errorf("rendering bootstrap: replica count %d: want 1 or more", opts.Replicas)
	}
	if opts.DataPath == "" {
		opts.DataPath = "/var/lib/longhorn"
	}
	if opts.LonghornVersion == "" {
		opts.LonghornVersion = LonghornVersion
	}
	if opts.DevicePluginVersion == "" {
		opts.DevicePluginVersion = DevicePluginVersion
	}
	labels := append([]string(nil), opts.NodeLabels...)
	if opts.GPU {
		labels = append(labels, GPUNodeLabel+"=true")
	}
	sort.Strings(labels)

	server := map[string]any{
		"token-file": opts.TokenFile,
		// Longhorn is the default storage class; k3s's local-path one
		// would compete with it for the default.
		"disable":               []any{"local-storage"},
		"write-kubeconfig-mode": "0600",
		"secrets-encryption":    true,
		// Embedded etcd, so more servers can join later.
		"cluster-init": true,
	}
	agent := map[string]any{"token-file": opts.TokenFile, "server": opts.Server}
	if opts.Server == "" {
		agent["server"] = "https://SERVER:6443"
	}
	if len(labels) > 0 {
		server["node-label"] = strs(labels)
		agent["node-label"] = strs(labels)
	}
	sc, err := encodeYAML("# /etc/rancher/k3s/config.yaml of a k3s server, written by berth cluster bootstrap\n", server)
	if err != nil {
		return nil, err
	}
	ac, err := encodeYAML("# /etc/rancher/k3s/config.yaml of a k3s agent, written by berth cluster bootstrap\n", agent)
	if err != nil {
		return nil, err
	}

	meta := func(name, ns string) map[string]any {
		m := map[string]any{"name": name, "labels": map[string]any{LabelManagedBy: "berth"}}
		if ns != "" {
			m["namespace"] = ns
		}
		return m
	}
	longhornValues, err := encodeYAML("", map[string]any{
		"persistence": map[string]any{
			"defaultClass":             true,
			"defaultClassReplicaCount": opts.Replicas,
			"reclaimPolicy":            "Retain",
		},
		"defaultSettings": map[string]any{
			"defaultDataPath":     opts.DataPath,
			"defaultReplicaCount": opts.Replicas,
		},
	})
	if err != nil {
		return nil, err
	}
	pluginValues, err := encodeYAML("", map[string]any{
		"runtimeClassName": "nvidia",
		"nodeSelector":     map[string]any{GPUNodeLabel: "true"},
		// Without NFD, its default affinity would match no node.
		"affinity": nil,
	})
	if err != nil {
		return nil, err
	}
	m := &Manifest{Namespace: "kube-system", Objects: []Object{
		{"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": meta("nvidia", ""), "handler": "nvidia"},
		{"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "metadata": meta("longhorn", "kube-system"),
			"spec": map[string]any{
				"repo": "https://charts.longhorn.io", "chart": "longhorn", "version": opts.LonghornVersion,
				"targetNamespace": "longhorn-system", "createNamespace": true, "valuesContent": string(longhornValues),
			}},
		{"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "metadata": meta("nvidia-device-plugin", "kube-system"),
			"spec": map[string]any{
				"repo": "https://nvidia.github.io/k8s-device-plugin", "chart": "nvidia-device-plugin", "version": opts.DevicePluginVersion,
				"targetNamespace": "kube-system", "valuesContent": string(pluginValues),
			}},
	}}
	return &Bootstrap{ServerConfig: sc, AgentConfig: ac, Manifest: m}, nil
}

func encodeYAML(header string, v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding bootstrap config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding bootstrap config: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteDir writes server-config.yaml, agent-config.yaml and
// addons.yaml (for k3s's auto-deploy directory,
// /var/lib/rancher/k3s/server/manifests) into dir.
func (b *Bootstrap) WriteDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("writing bootstrap files: %w", err)
	}
	addons, err := b.Manifest.YAML()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range []struct {
		name string
		data []byte
	}{{"server-config.yaml", b.ServerConfig}, {"agent-config.yaml", b.AgentConfig}, {"addons.yaml", addons}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			return nil, fmt.Errorf("writing bootstrap files: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
