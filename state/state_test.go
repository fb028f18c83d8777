package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T) *Dir {
	t.Helper()
	d, err := Open(t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSecretStableAndPrivate(t *testing.T) {
	d := open(t)
	a, err := d.Secret("postgres-password")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 {
		t.Errorf("secret length %d, want 32", len(a))
	}
	b, err := d.Secret("postgres-password")
	if err != nil || a != b {
		t.Fatalf("second read = %q, %v; want %q", b, err, a)
	}
	fi, err := os.Stat(filepath.Join(d.Path(), "secrets", "postgres-password"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret mode %v, want 0600", fi.Mode().Perm())
	}
	fi, _ = os.Stat(filepath.Join(d.Path(), "secrets"))
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("secrets dir mode %v, want 0700", fi.Mode().Perm())
	}
	c, err := d.RotateSecret("postgres-password")
	if err != nil || c == a {
		t.Fatalf("rotate = %q, %v; want a new value", c, err)
	}
	if got, _ := d.LookupSecret("postgres-password"); got != c {
		t.Errorf("after rotate read %q, want %q", got, c)
	}
	if _, err := d.LookupSecret("jupyter-token"); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup of a missing secret: %v, want ErrNotFound", err)
	}
	if _, err := d.Secret("../etc/passwd"); err == nil {
		t.Error("a path as a secret name was accepted")
	}
	names, _ := d.Secrets()
	if len(names) != 1 || names[0] != "postgres-password" {
		t.Errorf("Secrets() = %v", names)
	}
}

func TestSecretRace(t *testing.T) {
	d := open(t)
	var wg sync.WaitGroup
	vals := make([]string, 8)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := d.Secret("token")
			if err != nil {
				t.Error(err)
			}
			vals[i] = v
		}()
	}
	wg.Wait()
	for _, v := range vals {
		if v != vals[0] {
			t.Fatalf("concurrent first reads disagree: %q", vals)
		}
	}
}

func TestLock(t *testing.T) {
	d := open(t)
	ctx := t.Context()
	l, err := d.Lock(ctx, LockOptions{Command: "up ml"})
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description, so a second open in
	// the same process contends like another process would.
	_, err = d.Lock(ctx, LockOptions{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock without wait: %v, want ErrLocked", err)
	}
	var seen Holder
	done := make(chan error, 1)
	go func() {
		l2, err := d.Lock(ctx, LockOptions{Wait: true, Waiting: func(h Holder) { seen = h }})
		if err == nil {
			l2.Unlock()
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for seen.PID == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if seen.PID != os.Getpid() || seen.Command != "up ml" {
		t.Errorf("waiter saw holder %+v", seen)
	}
	l.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("waiting lock: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	l3, _ := d.Lock(ctx, LockOptions{})
	cancel()
	if _, err := d.Lock(cctx, LockOptions{Wait: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	l3.Unlock()
}

func TestGenerations(t *testing.T) {
	d := open(t)
	if _, err := d.Latest(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest on empty: %v", err)
	}
	// A crash while recording leaves a temporary directory, which is ignored.
	os.Mkdir(filepath.Join(d.Path(), "generations", ".tmp-123"), 0o700)
	for i, cfg := range []string{"a: 1\n", "a: 2\n"} {
		g, err := d.Record(Generation{Command: "up", Config: []byte(cfg), Desired: []byte(`{"n":1}`), Digest: "d"})
		if err != nil {
			t.Fatal(err)
		}
		if g.Number != i+1 {
			t.Errorf("generation number %d, want %d", g.Number, i+1)
		}
	}
	gens, err := d.Generations()
	if err != nil || len(gens) != 2 {
		t.Fatalf("Generations() = %v, %v", gens, err)
	}
	g, err := d.Latest()
	if err != nil || g.Number != 2 || string(g.Config) != "a: 2\n" || string(g.Desired) != `{"n":1}` {
		t.Fatalf("Latest() = %+v, %v", g, err)
	}
	if _, err := d.Generation(7); !errors.Is(err, ErrNotFound) {
		t.Errorf("Generation(7): %v", err)
	}
}
