// Package cluster renders berth's desired state as Kubernetes objects for a
// k3s cluster with Longhorn storage, and applies, diffs, prunes and watches
// them with server-side apply. It is the only package that may import
// k8s.io/* or client-go (a depcheck test keeps it so).
package cluster

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/runtime"
)

// FieldManager is the server-side apply field manager berth applies as.
const FieldManager = "berth"

// Labels on every rendered object, beside the runtime's io.berth.* ones.
// Owned objects are found by LabelManagedBy and runtime.LabelProject.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelNetPrefix + kit marks a pod as attached to that kit's network,
	// which the kit's NetworkPolicy admits (the Docker networks' meaning).
	LabelNetPrefix = "io.berth.net."
)

// StorageClass is the storage class of every claim: Longhorn's default.
const StorageClass = "longhorn"

// DefaultVolumeSize is the size of a claim no default below names.
const DefaultVolumeSize = "10Gi"

// volumeSizes are defaults per data path option: model stores are large.
var volumeSizes = map[string]string{
	"ml.ollama.modelsPath":  "100Gi",
	"ml.comfyui.dataPath":   "100Gi",
	"ml.vllm.cachePath":     "100Gi",
	"ml.localai.modelsPath": "100Gi",
	"dev.proxy.dataPath":    "1Gi",
}

// Options tune Render.
type Options struct {
	// Namespace holds every object; default: the project name.
	Namespace string
	// Secret returns a generated secret's value. Nil renders a placeholder,
	// fine for reading and goldens, never for an apply.
	Secret func(name string) (string, error)
	// Domain is the DNS suffix of Ingress hosts: <container>.<Domain>.
	// Default: localhost, which resolves to the loopback on most systems.
	Domain string
	// IngressClass is the Ingress class; default traefik (k3s's bundled).
	IngressClass string
	// VolumeSizes overrides claim sizes by data path option
	// (ml.ollama.modelsPath=200Gi).
	VolumeSizes map[string]string
	// AccessMode of every claim; default ReadWriteOnce.
	AccessMode string
	// StorageClass of every claim; default StorageClass (longhorn).
	StorageClass string
	// Only keeps the named containers; nil keeps every enabled one.
	Only map[string]bool
}

// Object is one rendered Kubernetes object, in the unstructured form the
// API server takes as JSON.
type Object map[string]any

// Kind returns the object's kind.
func (o Object) Kind() string { s, _ := o["kind"].(string); return s }

// APIVersion returns the object's apiVersion.
func (o Object) APIVersion() string { s, _ := o["apiVersion"].(string); return s }

// Name returns metadata.name.
func (o Object) Name() string { return o.meta("name") }

// Namespace returns metadata.namespace ("" for cluster objects).
func (o Object) Namespace() string { return o.meta("namespace") }

func (o Object) meta(k string) string {
	m, _ := o["metadata"].(map[string]any)
	s, _ := m[k].(string)
	return s
}

// Ref is Kind/name, how objects are named in messages.
func (o Object) Ref() string { return o.Kind() + "/" + o.Name() }

// Manifest is a rendered set of objects, in apply order.
type Manifest struct {
	Namespace string
	Project   string
	Objects   []Object
	// Notes say what was left out or changed on the way to the cluster.
	Notes []string
}

// kindOrder is the apply order: what others refer to comes first.
var kindOrder = map[string]int{
	"Namespace": 0, "Secret": 1, "PersistentVolumeClaim": 2, "Service": 3,
	"Deployment": 4, "StatefulSet": 4, "NetworkPolicy": 5, "Ingress": 6,
}

// Render turns the desired state (every enabled service, as
// desired.Compile makes it) into Kubernetes objects. The result depends
// only on its inputs: equal states give equal bytes. Compile st without
// secrets: Options.Secret puts them into Secret objects, never into a
// pod's spec.
func Render(st *desired.State, opts Options) (*Manifest, error) {
	if st == nil {
		return nil, errors.New("rendering: no desired state")
	}
	// Addresses of every service, also those left out by Only: a kept
	// service may refer to them.
	hosts := map[string]string{}
	for _, c := range st.Containers {
		for _, ep := range c.Spec.Networks {
			hosts[ep.IP.String()] = c.Spec.Name
		}
	}
	all := st
	st = st.Only(opts.Only)
	if opts.Namespace == "" {
		opts.Namespace = st.Project
	}
	if opts.Domain == "" {
		opts.Domain = "localhost"
	}
	if opts.IngressClass == "" {
		opts.IngressClass = "traefik"
	}
	if opts.AccessMode == "" {
		opts.AccessMode = "ReadWriteOnce"
	}
	if opts.StorageClass == "" {
		opts.StorageClass = StorageClass
	}
	if !dnsSubdomain.MatchString(opts.StorageClass) {
		return nil, fmt.Errorf("rendering: storage class %q is not a DNS subdomain (lowercase letters, digits, '-' and '.')", opts.StorageClass)
	}
	if !dnsLabel.MatchString(opts.Namespace) {
		return nil, fmt.Errorf("rendering: namespace %q is not a DNS label (lowercase letters, digits and '-', at most 63): pass another namespace", opts.Namespace)
	}
	r := &renderer{project: st.Project, st: st, all: all, opts: opts, hosts: hosts, m: &Manifest{Namespace: opts.Namespace, Project: st.Project}}
	if err := r.render(); err != nil {
		return nil, err
	}
	sort.SliceStable(r.m.Objects, func(i, j int) bool {
		a, b := r.m.Objects[i], r.m.Objects[j]
		if kindOrder[a.Kind()] != kindOrder[b.Kind()] {
			return kindOrder[a.Kind()] < kindOrder[b.Kind()]
		}
		if a.Kind() != b.Kind() {
			return a.Kind() < b.Kind()
		}
		return a.Name() < b.Name()
	})
	return r.m, nil
}

type renderer struct {
	project string
	st      *desired.State // the selected services
	// all holds every enabled service: a kit's NetworkPolicy and the
	// proxied set depend on all of them, also when only some are rendered.
	all  *desired.State
	opts Options
	m    *Manifest
	// hosts maps every container address to its Service's DNS name, to
	// rewrite {url:…} values that the desired state filled with addresses.
	hosts map[string]string
	// proxied holds the containers that get an Ingress.
	proxied map[string]bool
	secrets map[string]bool
}

// proxyService is the catalog service whose job Traefik takes over on a
// cluster: it is not rendered, and every web service gets an Ingress.
const proxyService = "dev/proxy"

func (r *renderer) render() error {
	r.add(Object{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": r.opts.Namespace, "labels": r.labels(nil)},
	})
	r.proxied = map[string]bool{}
	r.secrets = map[string]bool{}
	proxy := false
	for _, c := range r.all.Containers {
		if c.Kit+"/"+c.Service == proxyService {
			proxy = true
		}
	}
	if proxy {
		r.m.Notes = append(r.m.Notes, "dev-proxy is not rendered: the cluster's ingress controller ("+r.opts.IngressClass+") takes its place, with an Ingress per web service")
		for _, c := range r.all.Containers {
			if c.Health != nil && c.Health.Kind == "http" && c.Kit+"/"+c.Service != proxyService {
				r.proxied[c.Spec.Name] = true
			}
		}
	}
	kits := map[string]bool{}
	for i := range r.st.Containers {
		c := &r.st.Containers[i]
		if c.Kit+"/"+c.Service == proxyService {
			continue
		}
		kits[c.Kit] = true
		if err := r.service(c); err != nil {
			return fmt.Errorf("rendering %s: %w", c.Spec.Name, err)
		}
	}
	var names []string
	for k := range kits {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r.networkPolicy(k)
	}
	return nil
}

func (r *renderer) add(o Object) { r.m.Objects = append(r.m.Objects, o) }

// labels are the labels of every object, plus those of c when not nil.
func (r *renderer) labels(c *desired.Container) map[string]any {
	l := map[string]any{
		LabelManagedBy:       "berth",
		LabelPartOf:          r.project,
		runtime.LabelProject: r.project,
	}
	if c != nil {
		l[LabelName] = c.Service
		l[LabelInstance] = c.Spec.Name
		l[LabelComponent] = c.Kit
		l[runtime.LabelKit] = c.Kit
		l[runtime.LabelService] = c.Service
	}
	return l
}

func (r *renderer) meta(name string, c *desired.Container) map[string]any {
	return map[string]any{"name": name, "namespace": r.opts.Namespace, "labels": r.labels(c)}
}

// selector picks a service's pods. It never changes for a service: the
// API server refuses a changed Deployment or StatefulSet selector.
func (r *renderer) selector(c *desired.Container) map[string]any {
	return map[string]any{runtime.LabelProject: r.project, LabelInstance: c.Spec.Name}
}

// portName names a service port after its option: httpPort is http,
// httpsPort https, a lone port main. Ingresses refer to ports by name, so
// changing a number leaves them alone.
func portName(option string) string {
	n := strings.ToLower(strings.TrimSuffix(option, "Port"))
	if n == "" || n == "port" {
		return "main"
	}
	return n
}

// volumeName is a claim's name: the container and the data path option
// without its Path suffix (ml-ollama-models).
func volumeName(container, option string) string {
	opt := option[strings.LastIndexByte(option, '.')+1:]
	if i := strings.Index(opt, "["); i >= 0 { // mounts[0]
		opt = "mount-" + strings.Trim(opt[i:], "[]")
	}
	opt = strings.TrimSuffix(opt, "Path")
	var b strings.Builder
	for _, ch := range opt {
		if unicode.IsUpper(ch) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(ch))
	}
	return container + "-" + b.String()
}

// dnsSubdomain is what object names such as a storage class's must be.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// dnsLabel is what namespaces, Service names and label values must be.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (r *renderer) service(c *desired.Container) error {
	name := c.Spec.Name
	if !dnsLabel.MatchString(name) {
		return fmt.Errorf("name %q is longer than a Kubernetes Service name may be (63)", name)
	}
	ports := c.PortOptions
	if len(ports) > 0 {
		var sp []any
		for _, p := range ports {
			sp = append(sp, map[string]any{"name": portName(p.Option), "port": int(p.Port), "targetPort": int(p.Port), "protocol": "TCP"})
		}
		r.add(Object{
			"apiVersion": "v1", "kind": "Service", "metadata": r.meta(name, c),
			"spec": map[string]any{"type": "ClusterIP", "selector": r.selector(c), "ports": sp},
		})
	}

	container := map[string]any{"name": c.Service, "image": c.Spec.Image, "imagePullPolicy": "IfNotPresent"}
	if len(c.Spec.Entrypoint) > 0 {
		container["command"] = strs(c.Spec.Entrypoint)
	}
	if len(c.Spec.Cmd) > 0 {
		container["args"] = strs(c.Spec.Cmd)
	}
	if c.Spec.WorkingDir != "" {
		container["workingDir"] = c.Spec.WorkingDir
	}
	var env []any
	envs := c.Spec.Env
	if c.Kit+"/"+c.Service == "dev/postgres" && len(c.DataPaths) > 0 && !hasEnv(envs, "PGDATA") {
		// A fresh Longhorn volume holds lost+found, and initdb refuses a
		// data directory that is not empty: the cluster goes one level down.
		envs = append(append([]string(nil), envs...), "PGDATA="+c.DataPaths[0].Target+"/pgdata")
		sort.Strings(envs)
	}
	for _, kv := range envs {
		k, v, _ := strings.Cut(kv, "=")
		if sec, ok := strings.CutPrefix(v, "<secret:"); ok && strings.HasSuffix(sec, ">") {
			sec = strings.TrimSuffix(sec, ">")
			if err := r.secret(sec); err != nil {
				return err
			}
			env = append(env, map[string]any{"name": k, "valueFrom": map[string]any{
				"secretKeyRef": map[string]any{"name": sec, "key": "value"}}})
			continue
		}
		env = append(env, map[string]any{"name": k, "value": r.rewriteHosts(v)})
	}
	if len(env) > 0 {
		container["env"] = env
	}
	var cports []any
	for _, p := range ports {
		cports = append(cports, map[string]any{"name": portName(p.Option), "containerPort": int(p.Port), "protocol": "TCP"})
	}
	if len(cports) > 0 {
		container["ports"] = cports
	}
	if c.Health != nil && (c.Health.Port != 0 || c.Health.Kind == "exec") {
		var handler map[string]any
		if c.Health.Kind == "exec" {
			// berth's exec check is the kubelet's exec probe.
			cmd := make([]any, len(c.Health.Command))
			for i, a := range c.Health.Command {
				cmd[i] = a
			}
			handler = map[string]any{"exec": map[string]any{"command": cmd}}
		} else if c.Health.Kind == "http" {
			handler = map[string]any{"httpGet": map[string]any{"path": orSlash(c.Health.Path), "port": int(c.Health.Port)}}
		} else {
			handler = map[string]any{"tcpSocket": map[string]any{"port": int(c.Health.Port)}}
		}
		period := seconds(c.Health.Interval, 10)
		timeout := seconds(c.Health.Timeout, 1)
		readiness := map[string]any{"periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": 3}
		for k, v := range handler {
			readiness[k] = v
		}
		container["readinessProbe"] = readiness
		if c.Health.StartPeriod > 0 {
			// The start period as a startup probe: failures inside it do
			// not count, as on the engine.
			startup := map[string]any{"periodSeconds": period, "timeoutSeconds": timeout,
				"failureThreshold": int(math.Ceil(c.Health.StartPeriod.Seconds() / float64(period)))}
			for k, v := range handler {
				startup[k] = v
			}
			container["startupProbe"] = startup
		}
	}

	pod := map[string]any{}
	limits := map[string]any{}
	if m := c.Spec.Resources.MemoryBytes; m > 0 {
		limits["memory"] = quantity(m)
	}
	if n := c.Spec.Resources.NanoCPUs; n > 0 {
		limits["cpu"] = strconv.FormatInt(n/1e6, 10) + "m"
	}
	if c.GPU != nil {
		// Limits only: requests default to them, and the API server
		// refuses extended resources in requests that differ from limits.
		for k, v := range gpu.KubeResources(*c.GPU) {
			limits[k] = v
		}
		if rc := gpu.KubeRuntimeClass(*c.GPU); rc != "" {
			pod["runtimeClassName"] = rc
		}
	}
	if c.Spec.Resources.PidsLimit > 0 {
		r.m.Notes = append(r.m.Notes, fmt.Sprintf("%s: the pids limit is not rendered: Kubernetes sets it per node (kubelet podPidsLimit)", name))
	}
	if len(limits) > 0 {
		container["resources"] = map[string]any{"limits": limits}
	}
	if u, g, ok := numericUser(c.Spec.User); ok {
		sc := map[string]any{"runAsUser": u}
		if g >= 0 {
			sc["runAsGroup"] = g
		}
		container["securityContext"] = sc
	} else if c.Spec.User != "" {
		r.m.Notes = append(r.m.Notes, fmt.Sprintf("%s: user %q is not numeric; the image's user is kept", c.Spec.Name, c.Spec.User))
	}

	var volumes, mounts []any
	fsGroup := -1
	for _, d := range c.DataPaths {
		vn := volumeName(name, d.Option)
		size := volumeSizes[d.Option]
		if s, ok := r.opts.VolumeSizes[d.Option]; ok {
			size = s
		}
		if size == "" {
			size = DefaultVolumeSize
		}
		r.add(Object{
			"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": r.meta(vn, c),
			"spec": map[string]any{
				"accessModes":      []any{r.opts.AccessMode},
				"storageClassName": r.opts.StorageClass,
				"resources":        map[string]any{"requests": map[string]any{"storage": size}},
			},
		})
		volumes = append(volumes, map[string]any{"name": vn, "persistentVolumeClaim": map[string]any{"claimName": vn}})
		mounts = append(mounts, map[string]any{"name": vn, "mountPath": d.Target})
		if fsGroup < 0 && d.GID > 0 {
			fsGroup = d.GID
		}
	}
	for _, m := range c.Spec.Mounts {
		if m.ReadOnly {
			r.m.Notes = append(r.m.Notes, fmt.Sprintf("%s: read-only host mount %s is not rendered: host paths do not follow pods across nodes", name, m.Source))
		}
	}
	if shm := c.Spec.Resources.ShmBytes; shm > 0 {
		volumes = append(volumes, map[string]any{"name": "shm", "emptyDir": map[string]any{"medium": "Memory", "sizeLimit": quantity(shm)}})
		mounts = append(mounts, map[string]any{"name": "shm", "mountPath": "/dev/shm"})
	}
	if len(mounts) > 0 {
		container["volumeMounts"] = mounts
	}
	pod["containers"] = []any{container}
	if len(volumes) > 0 {
		pod["volumes"] = volumes
	}
	if fsGroup > 0 {
		pod["securityContext"] = map[string]any{"fsGroup": fsGroup}
	}
	podLabels := r.labels(c)
	for _, ep := range c.Spec.Networks {
		podLabels[LabelNetPrefix+strings.TrimPrefix(ep.Network, r.st.Project+"-")] = "member"
	}
	spec := map[string]any{
		"replicas": 1,
		"selector": map[string]any{"matchLabels": r.selector(c)},
		"template": map[string]any{"metadata": map[string]any{"labels": podLabels}, "spec": pod},
	}
	kind := "Deployment"
	if len(c.DataPaths) > 0 {
		// One pod owns the claims: a StatefulSet never runs two at once,
		// where a Deployment's rolling update would.
		kind = "StatefulSet"
		if len(ports) > 0 {
			spec["serviceName"] = name
		}
	} else {
		spec["strategy"] = map[string]any{"type": "RollingUpdate"}
	}
	r.add(Object{"apiVersion": "apps/v1", "kind": kind, "metadata": r.meta(name, c), "spec": spec})

	if r.proxied[name] && len(ports) > 0 {
		host := name + "." + r.opts.Domain
		r.add(Object{
			"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": r.meta(name, c),
			"spec": map[string]any{
				"ingressClassName": r.opts.IngressClass,
				"rules": []any{map[string]any{"host": host, "http": map[string]any{"paths": []any{map[string]any{
					"path": "/", "pathType": "Prefix",
					"backend": map[string]any{"service": map[string]any{"name": name, "port": map[string]any{"name": portName(ports[0].Option)}}},
				}}}}},
			},
		})
	}
	return nil
}

func (r *renderer) secret(name string) error {
	if r.secrets[name] {
		return nil
	}
	r.secrets[name] = true
	val := "<secret:" + name + ">"
	if r.opts.Secret != nil {
		v, err := r.opts.Secret(name)
		if err != nil {
			return fmt.Errorf("reading secret %s: %w", name, err)
		}
		val = v
	}
	r.add(Object{
		"apiVersion": "v1", "kind": "Secret", "metadata": r.meta(name, nil),
		"type": "Opaque", "stringData": map[string]any{"value": val},
	})
	return nil
}

// networkPolicy reproduces kit's private network: its pods take traffic
// from pods attached to the kit's network (its own, and those that connect
// to it) and, for web services, from the ingress controller.
func (r *renderer) networkPolicy(kit string) {
	from := []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{LabelNetPrefix + kit: "member"}}}}
	ingress := []any{map[string]any{"from": from}}
	var web []int
	for _, c := range r.all.Containers {
		if c.Kit == kit && r.proxied[c.Spec.Name] && len(c.Listen) > 0 {
			web = append(web, int(c.Listen[0]))
		}
	}
	sort.Ints(web)
	if len(web) > 0 {
		var ports []any
		for i, p := range web {
			if i > 0 && web[i-1] == p {
				continue
			}
			ports = append(ports, map[string]any{"port": p, "protocol": "TCP"})
		}
		// k3s runs Traefik in kube-system.
		ingress = append(ingress, map[string]any{
			"from": []any{map[string]any{
				"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "kube-system"}},
				"podSelector":       map[string]any{"matchLabels": map[string]any{LabelName: r.opts.IngressClass}},
			}},
			"ports": ports,
		})
	}
	meta := r.meta(kit+"-network", nil)
	meta["labels"].(map[string]any)[runtime.LabelKit] = kit
	r.add(Object{
		"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
		"spec": map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{runtime.LabelProject: r.project, runtime.LabelKit: kit}},
			"policyTypes": []any{"Ingress"},
			"ingress":     ingress,
		},
	})
}

// rewriteHosts turns the container addresses in v (from {url:…}
// templates) into Service names: pod addresses are not fixed on a cluster.
func (r *renderer) rewriteHosts(v string) string {
	if !strings.Contains(v, "://") {
		return v
	}
	for addr, name := range r.hosts {
		v = strings.ReplaceAll(v, "://"+addr+":", "://"+name+":")
		v = strings.ReplaceAll(v, "://"+addr+"/", "://"+name+"/")
		if strings.HasSuffix(v, "://"+addr) {
			v = strings.TrimSuffix(v, addr) + name
		}
	}
	return v
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// quantity writes a byte count in the largest binary unit that divides it.
func quantity(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func numericUser(u string) (uid, gid int, ok bool) {
	if u == "" {
		return 0, 0, false
	}
	us, gs, hasGroup := strings.Cut(u, ":")
	uid, err := strconv.Atoi(us)
	if err != nil {
		return 0, 0, false
	}
	gid = -1
	if hasGroup {
		if gid, err = strconv.Atoi(gs); err != nil {
			return 0, 0, false
		}
	}
	return uid, gid, true
}

func seconds(d time.Duration, def int) int {
	if d <= 0 {
		return def
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

func orSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Images returns the images the manifest's pods run, sorted, each once.
func (m *Manifest) Images() []string {
	seen := map[string]bool{}
	for _, o := range m.Objects {
		cs, _, _ := unstructuredSlice(o, "spec", "template", "spec", "containers")
		for _, c := range cs {
			if cm, ok := c.(map[string]any); ok {
				if img, _ := cm["image"].(string); img != "" {
					seen[img] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for img := range seen {
		out = append(out, img)
	}
	sort.Strings(out)
	return out
}

func unstructuredSlice(o map[string]any, path ...string) ([]any, bool, error) {
	var cur any = o
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[p]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}
