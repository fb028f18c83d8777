package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/plan/plantest"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
)

// postgresImage builds the built-in postgres-dev recipe (from the user's
// build cache, so repeated runs download nothing) and loads it.
func postgresImage(t *testing.T, eng runtime.Engine) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	b, err := image.NewBuilder(image.Options{CacheDir: filepath.Join(cache, "berth"), WorkDir: filepath.Dir(wd)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(t.Context(), image.Builtin()["postgres-dev"])
	if err != nil {
		if strings.Contains(err.Error(), "fetching http") && os.Getenv("CI") != "true" {
			t.Skipf("the Debian archive is not reachable: %v", err)
		}
		t.Fatal(err)
	}
	ref := "berth-test/backup-postgres:" + res.Digest.Hex[:12]
	if _, err := image.Load(t.Context(), eng, res.Image, ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.RemoveImage(context.Background(), ref) })
	return ref
}

// psql runs a statement in the container over its socket and returns the
// unaligned output.
func psql(t *testing.T, eng runtime.Engine, ctr, db, sql string) (string, error) {
	var out, errb bytes.Buffer
	code, err := eng.Exec(t.Context(), ctr, runtime.ExecOptions{
		Cmd: []string{"psql", "-X", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql}, User: "postgres",
		Stdout: &out, Stderr: &errb,
	})
	if err == nil && code != 0 {
		err = fmt.Errorf("psql exited with %d: %s", code, errb.String())
	}
	return strings.TrimSpace(out.String()), err
}

func mustPsql(t *testing.T, eng runtime.Engine, ctr, db, sql string) string {
	t.Helper()
	out, err := psql(t, eng, ctr, db, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// TestEndToEnd runs the demo's two kinds of service on the real engine:
// PostgreSQL (backed up with pg_dumpall while it runs) and a service with
// a notebooks path (stopped for the copy). It writes rows and files, backs
// up, destroys both, restores, and checks that everything is back.
func TestEndToEnd(t *testing.T) {
	eng := testenv.Docker(t)
	ctx := t.Context()
	var rnd [3]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	project := "berthbk-" + id
	prefix := "bk" + id + "-"
	pgImage := postgresImage(t, eng)
	appImage := fixture.LoadAs(t, eng, fixture.Image(t, ""), "berthtest-bk"+id+":app")
	t.Cleanup(func() {
		runtimetest.Cleanup(t, eng, map[string]string{runtime.LabelProject: project})
		eng.RemoveImage(context.Background(), appImage)
	})

	dir := t.TempDir()
	pgData, notebooks := filepath.Join(dir, "pg"), filepath.Join(dir, "notebooks")
	// 10.218.0.0/16 is this package's range on the shared engine.
	st := plantest.State(project,
		plantest.Kit{Name: "ml", Subnet: "10.218.1.0/24", Prefix: prefix, Services: []plantest.Service{
			{Name: "jupyter", Image: appImage, IP: 12, Port: 8888, Health: true, Data: []string{notebooks}},
		}},
		plantest.Kit{Name: "dev", Subnet: "10.218.2.0/24", Prefix: prefix, Services: []plantest.Service{
			{Name: "postgres", Image: pgImage, IP: 15, Port: 5432, Data: []string{pgData},
				Env: []string{"POSTGRES_PASSWORD=berth-secret", "POSTGRES_DB=dev", "PGDATA=/data/0"}},
		}},
	)
	pg := st.Container(prefix + "dev-postgres")
	pg.DataPaths[0].UID, pg.DataPaths[0].GID, pg.DataPaths[0].Mode = 999, 999, 0o700
	pg.Health = &desired.Health{Kind: "tcp", Port: 5432, Interval: 200 * time.Millisecond, Timeout: time.Second}
	pg.Spec.StopTimeout = 20 * time.Second
	pg.Backup = MethodPgDumpall // what the catalog gives dev/postgres
	obs, err := plan.Observe(ctx, eng, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Run(ctx, eng, plan.Compute(st, obs, plan.Options{Wait: true}), apply.Options{HealthTimeout: 60 * time.Second}); err != nil {
		t.Fatal(err)
	}
	pgName := pg.Spec.Name

	// Rows in three databases: the one the image makes (which a fresh
	// cluster has again when the dump is loaded), and two more.
	mustPsql(t, eng, pgName, "postgres", "create table notes (id int primary key, body text)")
	mustPsql(t, eng, pgName, "postgres", "insert into notes select g, 'note ' || g from generate_series(1, 1000) g")
	mustPsql(t, eng, pgName, "dev", "create table kv (k text primary key, v text); insert into kv values ('answer', '42')")
	mustPsql(t, eng, pgName, "postgres", "create database shop")
	mustPsql(t, eng, pgName, "shop", "create table items (name text); insert into items values ('berth'), ('ship')")
	fill(t, notebooks)
	wantTree := tree(t, notebooks)

	r := newRepo(t)
	targets := Targets(&st, false)
	if len(targets) != 2 || targets[0].Container.Spec.Name != pgName || targets[0].Method != MethodPgDumpall || targets[1].Method != MethodFiles {
		t.Fatalf("targets: %+v", targets)
	}
	var events []string
	opts := Options{Project: project, BerthVersion: "test", HealthTimeout: 60 * time.Second, Events: func(ev Event) {
		if ev.Kind != EventProgress {
			events = append(events, ev.Kind+" "+strings.TrimPrefix(ev.Container, prefix))
		}
	}}
	start := time.Now()
	res, err := r.Backup(ctx, eng, targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup: %v, %d bytes stored; events %v", time.Since(start).Round(time.Millisecond), res.Stored, events)
	m := res.Manifest
	if s := m.Services[0]; s.Dump == nil || s.Stopped || s.Dump.Size < 1000 {
		t.Fatalf("postgres: %+v", s)
	}
	if s := m.Services[1]; !s.Stopped || len(s.Paths) != 1 || len(s.Paths[0].Files) != 12 {
		t.Fatalf("notebooks: %+v", s)
	}
	for _, name := range []string{pgName, prefix + "ml-jupyter"} {
		if c, err := eng.InspectContainer(ctx, name); err != nil || c.State != runtime.StateRunning {
			t.Fatalf("%s after the backup: %s %v", name, c.State, err)
		}
	}
	if _, err := r.Verify(ctx, m.ID, nil); err != nil {
		t.Fatal(err)
	}

	// Destroy the data: rows, a database, the notebooks.
	mustPsql(t, eng, pgName, "postgres", "delete from notes where id > 10")
	mustPsql(t, eng, pgName, "postgres", "drop database shop")
	mustPsql(t, eng, pgName, "dev", "drop table kv")
	os.RemoveAll(filepath.Join(notebooks, "notebooks"))
	os.WriteFile(filepath.Join(notebooks, "big.bin"), []byte("garbage"), 0o644)

	events = nil
	start = time.Now()
	rr, err := r.Restore(ctx, eng, m.ID, targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restore: %v; events %v", time.Since(start).Round(time.Millisecond), events)
	for _, s := range rr.Services {
		if !s.Started {
			t.Errorf("%s was not started again", s.Container)
		}
	}
	if got := mustPsql(t, eng, pgName, "postgres", "select count(*), sum(id), max(body) from notes"); got != "1000|500500|note 999" {
		t.Errorf("notes after restore: %q", got)
	}
	if got := mustPsql(t, eng, pgName, "shop", "select string_agg(name, ',' order by name) from items"); got != "berth,ship" {
		t.Errorf("shop after restore: %q", got)
	}
	if got := mustPsql(t, eng, pgName, "dev", "select v from kv where k = 'answer'"); got != "42" {
		t.Errorf("dev after restore: %q", got)
	}
	// The role keeps its password: a TCP login with it works.
	var errb bytes.Buffer
	code, err := eng.Exec(ctx, pgName, runtime.ExecOptions{
		Cmd: []string{"psql", "-X", "-h", "127.0.0.1", "-U", "postgres", "-w", "-tAc", "select 1"}, Env: []string{"PGPASSWORD=berth-secret"},
		Stdout: &bytes.Buffer{}, Stderr: &errb,
	})
	if err != nil || code != 0 {
		t.Errorf("password login after restore: exit %d, %v: %s", code, err, errb.String())
	}
	if got := tree(t, notebooks); got != wantTree {
		t.Errorf("notebooks after restore:\n%s\nwant:\n%s", got, wantTree)
	}
	for _, p := range []string{pgData, notebooks} {
		if _, err := os.Stat(restoreDir(p)); !os.IsNotExist(err) {
			t.Errorf("%s: staging directory left: %v", p, err)
		}
	}
	if _, err := eng.InspectContainer(ctx, restoreContainer(pgName)); err == nil {
		t.Errorf("the container that loaded the dump is left")
	}

	// berth killed while the throwaway container loads the dump: the
	// service keeps running on its data, untouched, and recovery removes
	// the container and the staging directory.
	mustPsql(t, eng, pgName, "postgres", "insert into notes values (1001, 'after the restore')")
	pgOnly, err := json.Marshal(targets[:1])
	if err != nil {
		t.Fatal(err)
	}
	tfile := filepath.Join(t.TempDir(), "targets.json")
	os.WriteFile(tfile, pgOnly, 0o600)
	killAt(t, "restore-loading", "BERTH_HELPER_REPO="+r.Dir, "BERTH_HELPER_ID="+m.ID, "BERTH_HELPER_TARGETS="+tfile)
	if _, err := eng.InspectContainer(ctx, restoreContainer(pgName)); err != nil {
		t.Errorf("killed while loading, the loading container is gone already: %v", err)
	}
	if _, err := os.Stat(restoreDir(pgData)); err != nil {
		t.Errorf("killed while loading, no staging directory: %v", err)
	}
	if got := mustPsql(t, eng, pgName, "postgres", "select body from notes where id = 1001"); got != "after the restore" {
		t.Errorf("killed while loading, the service's data changed: %q", got)
	}
	if err := r.Recover(ctx, eng, targets, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.InspectContainer(ctx, restoreContainer(pgName)); err == nil {
		t.Errorf("recovery left the loading container")
	}
	if _, err := os.Stat(restoreDir(pgData)); !os.IsNotExist(err) {
		t.Errorf("recovery left the staging directory: %v", err)
	}
	if got := mustPsql(t, eng, pgName, "postgres", "select count(*) from notes"); got != "1001" {
		t.Errorf("after recovery: %q rows", got)
	}
}
