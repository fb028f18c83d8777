package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/voidnxlabs/berth/runtime"
)

// K3sKubeconfig is where a k3s server writes its admin kubeconfig.
const K3sKubeconfig = "/etc/rancher/k3s/k3s.yaml"

// Errors a caller must tell apart.
var (
	// ErrNoKubeconfig: no kubeconfig was given or found.
	ErrNoKubeconfig = errors.New("no kubeconfig found")
	// ErrUnreachable: the API server did not answer.
	ErrUnreachable = errors.New("cluster unreachable")
)

// ConflictError reports fields of an object that another field manager
// owns; applying again with Force takes them over.
type ConflictError struct {
	Ref     string // Kind/name
	Message string // the API server's list of conflicting fields and owners
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("applying %s: fields owned by another manager: %s", e.Ref, e.Message)
}

// ImmutableError reports a change the API server refuses to make in
// place (a claim's access mode, a workload's selector): the object must be
// deleted and applied again, which for a claim loses its data.
type ImmutableError struct {
	Ref     string
	Message string
}

func (e *ImmutableError) Error() string {
	return fmt.Sprintf("applying %s: the change cannot be made in place: %s", e.Ref, e.Message)
}

// Kubeconfig returns the kubeconfig file to use: flag when set, else
// $KUBECONFIG (its first existing entry), else k3s's admin kubeconfig when
// present, else ~/.kube/config.
func Kubeconfig(flag string, getenv func(string) string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv("KUBECONFIG"); v != "" {
		for _, p := range filepath.SplitList(v) {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("KUBECONFIG=%s: %w", v, ErrNoKubeconfig)
	}
	if _, err := os.Stat(K3sKubeconfig); err == nil {
		return K3sKubeconfig, nil
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	p := filepath.Join(home, ".kube", "config")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("looked for --kubeconfig, KUBECONFIG, %s and %s: %w", K3sKubeconfig, p, ErrNoKubeconfig)
}

// Client talks to one cluster's API server.
type Client struct {
	// Host is the API server's URL.
	Host string
	dyn  dynamic.Interface
	cfg  *rest.Config
	// http speaks to the API server directly, for streams (pod logs).
	http *http.Client
}

// Connect returns a client for the cluster of the kubeconfig file at path,
// in its current context.
func Connect(path string) (*Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	return NewClient(cfg)
}

// NewClient returns a client for the given REST config.
func NewClient(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "berth"
	// A whole apply is a few dozen requests; client-go's default of 5/s
	// would make it take seconds.
	cfg.QPS, cfg.Burst = 100, 200
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	return &Client{Host: cfg.Host, dyn: dyn, cfg: cfg, http: hc}, nil
}

// kinds maps every kind berth renders to its resource. A fixed table
// instead of discovery: one round trip less per command, and the kinds
// never change.
var kinds = map[string]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
	prune      bool
}{
	"Namespace":             {schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false, false},
	"Secret":                {schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, true, true},
	"PersistentVolumeClaim": {schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, true, true},
	"Service":               {schema.GroupVersionResource{Version: "v1", Resource: "services"}, true, true},
	"Deployment":            {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true, true},
	"StatefulSet":           {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, true, true},
	"NetworkPolicy":         {schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}, true, true},
	"Ingress":               {schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}, true, true},
	"RuntimeClass":          {schema.GroupVersionResource{Group: "node.k8s.io", Version: "v1", Resource: "runtimeclasses"}, false, false},
	"HelmChart":             {schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}, true, false},
}

// pruneOrder deletes what refers to others first.
var pruneOrder = []string{"Ingress", "NetworkPolicy", "Deployment", "StatefulSet", "Service", "Secret", "PersistentVolumeClaim"}

func (c *Client) resource(o Object) (dynamic.ResourceInterface, error) {
	k, ok := kinds[o.Kind()]
	if !ok {
		return nil, fmt.Errorf("%s: kind %s is not one berth applies", o.Ref(), o.Kind())
	}
	if k.namespaced {
		return c.dyn.Resource(k.gvr).Namespace(o.Namespace()), nil
	}
	return c.dyn.Resource(k.gvr), nil
}

// Action is what an apply did, or would do, to one object.
type Action string

const (
	Created   Action = "created"
	Changed   Action = "changed"
	Unchanged Action = "unchanged"
	Pruned    Action = "pruned"
)

// Change is one object's outcome.
type Change struct {
	Ref    string // Kind/name
	Action Action
	// Fields lists the changed fields of a changed object, as
	// "path: old -> new" (diff only).
	Fields []string `json:",omitempty"`
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Force takes over fields another manager owns instead of failing.
	Force bool
	// Progress, when set, is called after each object.
	Progress func(Change)
}

// Apply applies every object of m with server-side apply as field manager
// berth, in order, and reports for each whether its content changed. It
// stops at the first error; a field conflict is a *ConflictError.
func (c *Client) Apply(ctx context.Context, m *Manifest, opts ApplyOptions) ([]Change, error) {
	var out []Change
	for _, o := range m.Objects {
		ch, err := c.applyOne(ctx, o, opts.Force, false)
		if err != nil {
			return out, err
		}
		out = append(out, ch)
		if opts.Progress != nil {
			opts.Progress(ch)
		}
	}
	return out, nil
}

func (c *Client) applyOne(ctx context.Context, o Object, force, dryRun bool) (Change, error) {
	ri, err := c.resource(o)
	if err != nil {
		return Change{}, err
	}
	ch := Change{Ref: o.Ref()}
	before, err := ri.Get(ctx, o.Name(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		before = nil
	case err != nil:
		return ch, c.wrap("reading "+o.Ref(), err)
	}
	data, err := json.Marshal(o)
	if err != nil {
		return ch, fmt.Errorf("encoding %s: %w", o.Ref(), err)
	}
	popts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	if dryRun {
		popts.DryRun = []string{metav1.DryRunAll}
	}
	after, err := ri.Patch(ctx, o.Name(), types.ApplyPatchType, data, popts)
	if err != nil {
		if apierrors.IsConflict(err) {
			return ch, &ConflictError{Ref: o.Ref(), Message: conflictMessage(err)}
		}
		if apierrors.IsInvalid(err) && strings.Contains(err.Error(), "immutable") {
			// The server appends a diff of the whole spec; its first line says it.
			msg, _, _ := strings.Cut(conflictMessage(err), "\n")
			return ch, &ImmutableError{Ref: o.Ref(), Message: msg}
		}
		return ch, c.wrap("applying "+o.Ref(), err)
	}
	if before == nil {
		ch.Action = Created
		return ch, nil
	}
	// Compared by content, not resourceVersion: controllers write to
	// objects too (the claim protection finalizer, status), and an apply
	// that only refreshes berth's managedFields entry changes nothing.
	ch.Fields = diffFields("", normalize(before.Object), normalize(after.Object))
	ch.Action = Unchanged
	if len(ch.Fields) > 0 {
		ch.Action = Changed
	}
	return ch, nil
}

func conflictMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status().Message
	}
	return err.Error()
}

func (c *Client) wrap(doing string, err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsInvalid(err) ||
		apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) || apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	// Anything else is the transport: refused, timed out, bad TLS.
	return fmt.Errorf("%s on %s: %w: %v", doing, c.Host, ErrUnreachable, err)
}

// Diff says what Apply and Prune would do, asking the API server for a
// dry run of every apply so that defaults and validation are the server's.
func (c *Client) Diff(ctx context.Context, m *Manifest, opts ApplyOptions) ([]Change, error) {
	nsMissing := false
	if ri, err := c.resource(Object{"kind": "Namespace"}); err == nil {
		_, err := ri.Get(ctx, m.Namespace, metav1.GetOptions{})
		nsMissing = apierrors.IsNotFound(err)
		if err != nil && !nsMissing {
			return nil, c.wrap("reading namespace "+m.Namespace, err)
		}
	}
	var out []Change
	for _, o := range m.Objects {
		if nsMissing {
			// A dry run in a namespace that does not exist yet fails.
			out = append(out, Change{Ref: o.Ref(), Action: Created})
			continue
		}
		ch, err := c.applyOne(ctx, o, opts.Force, true)
		if err != nil {
			return out, err
		}
		out = append(out, ch)
	}
	if nsMissing {
		return out, nil
	}
	pr, err := c.Prune(ctx, m, PruneOptions{DryRun: true})
	return append(out, pr...), err
}

// PruneOptions tune Prune.
type PruneOptions struct {
	// Volumes also removes claims no longer rendered, and the data on
	// them. Without it claims are always kept.
	Volumes bool
	DryRun  bool
}

// Prune removes the objects of m's project in m's namespace that berth
// owns (by label) and m no longer holds. The namespace is never removed,
// claims only with Volumes.
func (c *Client) Prune(ctx context.Context, m *Manifest, opts PruneOptions) ([]Change, error) {
	keep := map[string]bool{}
	for _, o := range m.Objects {
		keep[o.Ref()] = true
	}
	sel := LabelManagedBy + "=berth," + runtime.LabelProject + "=" + m.Project
	var out []Change
	for _, kind := range pruneOrder {
		if kind == "PersistentVolumeClaim" && !opts.Volumes {
			continue
		}
		ri := c.dyn.Resource(kinds[kind].gvr).Namespace(m.Namespace)
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return out, c.wrap("listing "+kind+"s", err)
		}
		items := list.Items
		sort.Slice(items, func(i, j int) bool { return items[i].GetName() < items[j].GetName() })
		for _, it := range items {
			ref := kind + "/" + it.GetName()
			if keep[ref] {
				continue
			}
			if !opts.DryRun {
				bg := metav1.DeletePropagationBackground
				err := ri.Delete(ctx, it.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
				if err != nil && !apierrors.IsNotFound(err) {
					return out, c.wrap("removing "+ref, err)
				}
			}
			out = append(out, Change{Ref: ref, Action: Pruned})
		}
	}
	return out, nil
}

// Get returns the live object of o's kind and name, or nil when absent.
func (c *Client) Get(ctx context.Context, o Object) (*unstructured.Unstructured, error) {
	ri, err := c.resource(o)
	if err != nil {
		return nil, err
	}
	u, err := ri.Get(ctx, o.Name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, c.wrap("reading "+o.Ref(), err)
	}
	return u, nil
}

// normalize drops what the server sets on its own, leaving what an apply
// can change.
func normalize(obj map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range obj {
		if k != "status" {
			out[k] = v
		}
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		m := map[string]any{}
		for k, v := range md {
			switch k {
			case "managedFields", "resourceVersion", "generation", "uid", "creationTimestamp":
			default:
				m[k] = v
			}
		}
		out["metadata"] = m
	}
	return out
}

// diffFields lists the leaf differences between a and b as
// "path: old -> new".
func diffFields(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		var names []string
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		var out []string
		for _, k := range names {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, diffFields(p, am[k], bm[k])...)
		}
		return out
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		var out []string
		for i := range as {
			out = append(out, diffFields(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])...)
		}
		return out
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) == string(jb) {
		return nil
	}
	if strings.HasPrefix(path, "data.") || strings.HasPrefix(path, "stringData.") {
		return []string{path + ": (secret value changed)"}
	}
	return []string{fmt.Sprintf("%s: %s -> %s", path, orNone(a, ja), orNone(b, jb))}
}

func orNone(v any, j []byte) string {
	if v == nil {
		return "(none)"
	}
	return string(j)
}
