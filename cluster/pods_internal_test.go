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
