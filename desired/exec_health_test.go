package desired_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
)

// An exec health check is berth's readiness check (run through the
// engine's exec) and the engine's own health check, in Compose's CMD and
// CMD-SHELL forms; a named volume is a data path berth creates.
func TestExecHealthAndVolumes(t *testing.T) {
	src := "project: p\nvolumesPath: /srv/v\nlab:\n  network: {subnet: 192.168.221.0/24}\n" +
		"  a: {image: x, mounts: ['models:/m:ro'], health: {exec: [pg_isready, -q], interval: 5s, retries: 4}}\n" +
		"  b: {image: x, health: {exec: 'curl -f localhost || exit 1'}}\n"
	cfg, err := config.Parse("berth.yaml", []byte(src), config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := desired.Compile(cfg, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := st.Container("lab-a"), st.Container("lab-b")
	if a.Health.Kind != "exec" || a.Health.Container != "lab-a" || !reflect.DeepEqual(a.Health.Command, []string{"pg_isready", "-q"}) {
		t.Errorf("a health = %+v", a.Health)
	}
	if hc := a.Spec.Healthcheck; hc == nil || !reflect.DeepEqual(hc.Test, []string{"CMD", "pg_isready", "-q"}) || hc.Interval != 5*time.Second || hc.Retries != 4 {
		t.Errorf("a engine healthcheck = %+v", a.Spec.Healthcheck)
	}
	if !reflect.DeepEqual(b.Health.Command, []string{"/bin/sh", "-c", "curl -f localhost || exit 1"}) ||
		!reflect.DeepEqual(b.Spec.Healthcheck.Test, []string{"CMD-SHELL", "curl -f localhost || exit 1"}) {
		t.Errorf("b health = %+v, engine %+v", b.Health, b.Spec.Healthcheck)
	}
	if len(a.DataPaths) != 1 || a.DataPaths[0].Host != "/srv/v/p/models" || a.Spec.Mounts[0].Source != "/srv/v/p/models" || !a.Spec.Mounts[0].ReadOnly {
		t.Errorf("a data paths %+v, mounts %+v", a.DataPaths, a.Spec.Mounts)
	}
}
