package cluster

import (
	"encoding/json"
	"testing"
)

func TestPodOf(t *testing.T) {
	var o map[string]any
	raw := `{"metadata":{"name":"dev-postgres-0","labels":{"app.kubernetes.io/instance":"dev-postgres"}},
	"spec":{"nodeName":"n1"},
	"status":{"phase":"Running","podIP":"10.244.0.7","conditions":[{"type":"Ready","status":"False"}],
	"containerStatuses":[{"restartCount":3,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}`
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		t.Fatal(err)
	}
	// The dynamic client decodes numbers as int64, as here.
	o["status"].(map[string]any)["containerStatuses"].([]any)[0].(map[string]any)["restartCount"] = int64(3)
	p := podOf(o)
	if p.Name != "dev-postgres-0" || p.Instance != "dev-postgres" || p.Ready || p.Restarts != 3 ||
		p.State != "waiting: CrashLoopBackOff" || p.IP != "10.244.0.7" || p.Node != "n1" {
		t.Errorf("podOf = %+v", p)
	}
}

func TestRolloutOf(t *testing.T) {
	obj := func(gen, seen int64) map[string]any {
		return map[string]any{
			"metadata": map[string]any{"generation": gen},
			"spec":     map[string]any{"replicas": int64(1)},
			"status": map[string]any{"observedGeneration": seen, "readyReplicas": int64(1),
				"updatedReplicas": int64(1)},
		}
	}
	var ws WorkloadStatus
	rolloutOf(&ws, obj(2, 2))
	if !ws.Present || ws.Replicas != 1 || ws.Ready != 1 || ws.Updated != 1 {
		t.Errorf("observed: %+v", ws)
	}
	// Just applied: the counts are the old spec's.
	ws = WorkloadStatus{}
	rolloutOf(&ws, obj(3, 2))
	if ws.Updated != 0 || ws.Ready != 1 {
		t.Errorf("not yet observed: %+v, want 0 updated", ws)
	}
}
