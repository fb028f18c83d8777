package cluster

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// WorkloadStatus is the rollout state of one service.
type WorkloadStatus struct {
	Ref     string `json:"ref"` // Deployment/ml-ollama
	Present bool   `json:"present"`
	// Replicas wanted, and how many are ready and up to date.
	Replicas int64 `json:"replicas"`
	Ready    int64 `json:"ready"`
	Updated  int64 `json:"updated"`
	// Pods lists the pods that are not ready, with why.
	Pods []PodStatus `json:"pods"`
}

// PodStatus is one pod that is not ready.
type PodStatus struct {
	Name   string   `json:"name"`
	Phase  string   `json:"phase"`
	Reason string   `json:"reason,omitempty"`
	Events []string `json:"events"` // the latest warnings, oldest first
}

// ClaimStatus is one PersistentVolumeClaim.
type ClaimStatus struct {
	Name    string `json:"name"`
	Present bool   `json:"present"`
	Phase   string `json:"phase"` // Pending, Bound, Lost
	Volume  string `json:"volume,omitempty"`
}

// Status is the cluster's view of a manifest's services.
type Status struct {
	Namespace string           `json:"namespace"`
	Workloads []WorkloadStatus `json:"workloads"`
	Claims    []ClaimStatus    `json:"claims"`
	// Pods are every pod of the workloads: state, readiness, restarts.
	Pods []Pod `json:"pods"`
}

var (
	podsGVR   = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	eventsGVR = schema.GroupVersionResource{Version: "v1", Resource: "events"}
)

// Status reads the rollout state of every workload of m, the binding of
// its claims, and the warnings of pods that are not ready.
func (c *Client) Status(ctx context.Context, m *Manifest) (*Status, error) {
	st := &Status{Namespace: m.Namespace, Workloads: []WorkloadStatus{}, Claims: []ClaimStatus{}, Pods: []Pod{}}
	only := map[string]bool{}
	for _, o := range m.Objects {
		switch o.Kind() {
		case "Deployment", "StatefulSet":
			u, err := c.Get(ctx, o)
			if err != nil {
				return nil, err
			}
			only[o.Name()] = true
			ws := WorkloadStatus{Ref: o.Ref(), Pods: []PodStatus{}}
			if u != nil {
				rolloutOf(&ws, u.Object)
				if ws.Ready < ws.Replicas {
					pods, err := c.notReady(ctx, m.Namespace, o.Name())
					if err != nil {
						return nil, err
					}
					ws.Pods = pods
				}
			}
			st.Workloads = append(st.Workloads, ws)
		case "PersistentVolumeClaim":
			u, err := c.Get(ctx, o)
			if err != nil {
				return nil, err
			}
			cs := ClaimStatus{Name: o.Name()}
			if u != nil {
				cs.Present = true
				cs.Phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
				cs.Volume, _, _ = unstructured.NestedString(u.Object, "spec", "volumeName")
			}
			st.Claims = append(st.Claims, cs)
		}
	}
	if len(only) > 0 {
		pods, err := c.Pods(ctx, m.Namespace, m.Project, only)
		if err != nil {
			return nil, err
		}
		st.Pods = pods
	}
	return st, nil
}

func (c *Client) notReady(ctx context.Context, ns, instance string) ([]PodStatus, error) {
	pods, err := c.dyn.Resource(podsGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelInstance + "=" + instance})
	if err != nil {
		return nil, c.wrap("listing pods of "+instance, err)
	}
	out := []PodStatus{}
	for _, p := range pods.Items {
		ps := PodStatus{Name: p.GetName(), Events: []string{}}
		ps.Phase, _, _ = unstructured.NestedString(p.Object, "status", "phase")
		conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
		ready := false
		for _, ci := range conds {
			cm, _ := ci.(map[string]any)
			if cm["type"] == "Ready" && cm["status"] == "True" {
				ready = true
			}
			if cm["status"] == "False" && ps.Reason == "" {
				if r, _ := cm["reason"].(string); r != "" {
					msg, _ := cm["message"].(string)
					ps.Reason = fmt.Sprintf("%s: %s %s", cm["type"], r, msg)
				}
			}
		}
		if ready {
			continue
		}
		evs, err := c.dyn.Resource(eventsGVR).Namespace(ns).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + p.GetName() + ",type=Warning"})
		if err != nil {
			return nil, c.wrap("listing events of "+p.GetName(), err)
		}
		items := evs.Items
		sort.Slice(items, func(i, j int) bool {
			a, b := items[i].GetCreationTimestamp(), items[j].GetCreationTimestamp()
			return a.Before(&b)
		})
		if len(items) > 5 {
			items = items[len(items)-5:]
		}
		for _, e := range items {
			reason, _, _ := unstructured.NestedString(e.Object, "reason")
			msg, _, _ := unstructured.NestedString(e.Object, "message")
			ps.Events = append(ps.Events, reason+": "+msg)
		}
		out = append(out, ps)
	}
	return out, nil
}

// rolloutOf fills in the counts of a Deployment or StatefulSet object.
func rolloutOf(ws *WorkloadStatus, o map[string]any) {
	ws.Present = true
	ws.Replicas, _, _ = unstructured.NestedInt64(o, "spec", "replicas")
	ws.Ready, _, _ = unstructured.NestedInt64(o, "status", "readyReplicas")
	ws.Updated, _, _ = unstructured.NestedInt64(o, "status", "updatedReplicas")
	// Right after an apply the controller has not seen the new spec yet
	// and its counts describe the old one: nothing is known to be up to
	// date.
	gen, _, _ := unstructured.NestedInt64(o, "metadata", "generation")
	seen, _, _ := unstructured.NestedInt64(o, "status", "observedGeneration")
	if seen < gen {
		ws.Updated = 0
	}
}
