package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/runtime"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// Pod is one running (or failing) pod of a service.
type Pod struct {
	Name string `json:"name"`
	// UID tells a replaced pod from the old one: a StatefulSet's keeps
	// its name.
	UID      string `json:"uid"`
	Instance string `json:"instance"` // the container name it runs, ml-ollama
	Phase    string `json:"phase"`
	Ready    bool   `json:"ready"`
	// State of the service's container: running, waiting (with reason,
	// CrashLoopBackOff say) or terminated (with reason and exit code).
	State    string `json:"state"`
	Restarts int64  `json:"restarts"`
	Node     string `json:"node,omitempty"`
	IP       string `json:"ip,omitempty"`
	Started  string `json:"started,omitempty"` // RFC 3339
}

// ErrNoPod: the service has no pod to read logs from or exec into.
var ErrNoPod = errors.New("no pod")

// Pods lists the pods berth's workloads of the project run in ns, sorted
// by instance and name; only, when not empty, keeps those instances.
func (c *Client) Pods(ctx context.Context, ns, project string, only map[string]bool) ([]Pod, error) {
	list, err := c.dyn.Resource(podsGVR).Namespace(ns).List(ctx, metav1.ListOptions{
		LabelSelector: LabelManagedBy + "=berth," + runtime.LabelProject + "=" + project})
	if err != nil {
		return nil, c.wrap("listing pods in "+ns, err)
	}
	out := []Pod{}
	for _, u := range list.Items {
		p := podOf(u.Object)
		if len(only) > 0 && !only[p.Instance] {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func podOf(o map[string]any) Pod {
	p := Pod{}
	p.Name, _, _ = unstructured.NestedString(o, "metadata", "name")
	p.UID, _, _ = unstructured.NestedString(o, "metadata", "uid")
	p.Instance, _, _ = unstructured.NestedString(o, "metadata", "labels", LabelInstance)
	p.Phase, _, _ = unstructured.NestedString(o, "status", "phase")
	p.Node, _, _ = unstructured.NestedString(o, "spec", "nodeName")
	p.IP, _, _ = unstructured.NestedString(o, "status", "podIP")
	p.Started, _, _ = unstructured.NestedString(o, "status", "startTime")
	if del, _, _ := unstructured.NestedString(o, "metadata", "deletionTimestamp"); del != "" {
		p.Phase = "Terminating"
	}
	conds, _, _ := unstructured.NestedSlice(o, "status", "conditions")
	for _, ci := range conds {
		if cm, _ := ci.(map[string]any); cm["type"] == "Ready" && cm["status"] == "True" {
			p.Ready = true
		}
	}
	p.State = "pending"
	statuses, _, _ := unstructured.NestedSlice(o, "status", "containerStatuses")
	for _, si := range statuses {
		sm, _ := si.(map[string]any)
		if n, _ := sm["restartCount"].(int64); n > p.Restarts {
			p.Restarts = n
		}
		st, _ := sm["state"].(map[string]any)
		switch {
		case st["running"] != nil:
			p.State = "running"
		case st["waiting"] != nil:
			w, _ := st["waiting"].(map[string]any)
			p.State = "waiting"
			if r, _ := w["reason"].(string); r != "" {
				p.State += ": " + r
			}
		case st["terminated"] != nil:
			t, _ := st["terminated"].(map[string]any)
			r, _ := t["reason"].(string)
			code, _ := t["exitCode"].(int64)
			p.State = fmt.Sprintf("terminated: %s (exit %d)", r, code)
		}
	}
	return p
}

// pick returns the pod to use for an instance: a ready one first, then a
// running one, then any.
func (c *Client) pick(ctx context.Context, ns, project, instance string) (Pod, error) {
	pods, err := c.Pods(ctx, ns, project, map[string]bool{instance: true})
	if err != nil {
		return Pod{}, err
	}
	if len(pods) == 0 {
		return Pod{}, fmt.Errorf("%s in namespace %s: %w", instance, ns, ErrNoPod)
	}
	sort.SliceStable(pods, func(i, j int) bool {
		rank := func(p Pod) int {
			switch {
			case p.Ready:
				return 0
			case p.Phase == "Running":
				return 1
			}
			return 2
		}
		return rank(pods[i]) < rank(pods[j])
	})
	return pods[0], nil
}

// LogOptions select what Logs streams.
type LogOptions struct {
	Follow   bool
	Tail     int64 // lines from the end; 0 means all
	Previous bool  // the previous (crashed) container's log
	// Timestamps prefixes each line with its RFC 3339 time.
	Timestamps bool
}

// Logs streams the log of the service's container in its pod (a ready
// one when there are several) to w until the log ends, or, with Follow,
// until ctx is done.
func (c *Client) Logs(ctx context.Context, ns, project, instance, container string, opts LogOptions, w io.Writer) error {
	p, err := c.pick(ctx, ns, project, instance)
	if err != nil {
		return err
	}
	q := url.Values{"container": {container}}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Tail > 0 {
		q.Set("tailLines", strconv.FormatInt(opts.Tail, 10))
	}
	if opts.Previous {
		q.Set("previous", "true")
	}
	if opts.Timestamps {
		q.Set("timestamps", "true")
	}
	u := c.podURL(ns, p.Name, "log") + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("reading the log of %s: %w: %w", p.Name, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("reading the log of %s: %s: %s", p.Name, resp.Status, strings.TrimSpace(string(b)))
	}
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the log of %s: %w", p.Name, err)
	}
	return nil
}

func (c *Client) podURL(ns, pod, sub string) string {
	return strings.TrimSuffix(c.cfg.Host, "/") + "/api/v1/namespaces/" + url.PathEscape(ns) + "/pods/" + url.PathEscape(pod) + "/" + sub
}

// ExecOptions are the streams and terminal of an exec.
type ExecOptions struct {
	Stdin          io.Reader // nil: no stdin
	Stdout, Stderr io.Writer
	TTY            bool
	// Resize, when set, carries the terminal's size as rows, columns
	// (TTY only); closing it ends the size updates.
	Resize <-chan [2]uint
}

type sizeQueue <-chan [2]uint

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	sz, ok := <-q
	if !ok {
		return nil
	}
	return &remotecommand.TerminalSize{Height: uint16(sz[0]), Width: uint16(sz[1])}
}

// ExitError is a command that ran in the pod and exited non-zero.
type ExitError struct {
	Pod  string
	Code int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("command in %s exited with %d", e.Pod, e.Code)
}

// Exec runs argv in the service's container in its pod, over the API
// server (WebSocket, or SPDY on servers without it), streaming stdin,
// stdout and stderr. A non-zero exit is an *ExitError with the code.
func (c *Client) Exec(ctx context.Context, ns, project, instance, container string, argv []string, opts ExecOptions) error {
	if len(argv) == 0 {
		return errors.New("exec: no command")
	}
	p, err := c.pick(ctx, ns, project, instance)
	if err != nil {
		return err
	}
	q := url.Values{"container": {container}, "command": argv}
	if opts.Stdin != nil {
		q.Set("stdin", "true")
	}
	if opts.Stdout != nil {
		q.Set("stdout", "true")
	}
	if opts.Stderr != nil && !opts.TTY {
		q.Set("stderr", "true")
	}
	if opts.TTY {
		q.Set("tty", "true")
	}
	u, err := url.Parse(c.podURL(ns, p.Name, "exec") + "?" + q.Encode())
	if err != nil {
		return err
	}
	ws, err := remotecommand.NewWebSocketExecutor(c.cfg, http.MethodGet, u.String())
	if err != nil {
		return fmt.Errorf("exec in %s: %w", p.Name, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.cfg, http.MethodPost, u)
	if err != nil {
		return fmt.Errorf("exec in %s: %w", p.Name, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("exec in %s: %w", p.Name, err)
	}
	so := remotecommand.StreamOptions{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Tty: opts.TTY}
	if opts.TTY && opts.Resize != nil {
		so.TerminalSizeQueue = sizeQueue(opts.Resize)
	}
	err = ex.StreamWithContext(ctx, so)
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return &ExitError{Pod: p.Name, Code: ce.Code}
	}
	if err != nil {
		return fmt.Errorf("exec in %s: %w", p.Name, err)
	}
	return nil
}
