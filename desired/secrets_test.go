package desired_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// secretStore is an in-memory stand-in for the state directory's secrets.
type secretStore map[string]string

func (s secretStore) secret(name string) (string, error) { return s[name], nil }
func (s secretStore) file(name string, uid, gid int) (string, error) {
	return fmt.Sprintf("/state/secrets/run/%s-%d", name, uid), nil
}

func compileSecrets(t *testing.T, s secretStore) *desired.State {
	t.Helper()
	cfg, err := config.Parse("berth.yaml", []byte("dev:\n  postgres: {}\n  code-server: {}\nml:\n  jupyter: { user: \"1234\" }\n"), config.ParseOptions{DefaultProject: "p"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := desired.Compile(cfg, desired.Options{Secret: s.secret, SecretFile: s.file})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSecretsAsFiles: programs with a *_FILE variant get a read-only file
// and the variable naming it; the value is nowhere in the spec. Others
// (code-server) get the value in their environment.
func TestSecretsAsFiles(t *testing.T) {
	s := secretStore{"postgres-password": "pw-1-AAAAAAAAAAAAAAAAAAAA", "jupyter-token": "tok-1-AAAAAAAAAAAAAAAAAAA", "code-server-password": "cs-1-AAAAAAAAAAAAAAAAAAAA"}
	st := compileSecrets(t, s)
	pg := st.Container("dev-postgres")
	if !slices.Contains(pg.Spec.Env, "POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password") {
		t.Errorf("postgres env = %v", pg.Spec.Env)
	}
	if !slices.Contains(pg.Spec.Mounts, runtime.Mount{Source: "/state/secrets/run/postgres-password-999", Target: "/run/secrets/postgres-password", ReadOnly: true}) {
		t.Errorf("postgres mounts = %v", pg.Spec.Mounts)
	}
	for _, c := range st.Containers {
		if fmt.Sprint(c.Spec) != "" && strings.Contains(fmt.Sprintf("%+v", c.Spec), s["postgres-password"]) {
			t.Errorf("%s's spec holds the postgres password", c.Spec.Name)
		}
		if strings.Contains(fmt.Sprintf("%+v", c.Spec), s["jupyter-token"]) {
			t.Errorf("%s's spec holds the jupyter token", c.Spec.Name)
		}
	}
	// The user's uid owns the file when the service runs as another user.
	if j := st.Container("ml-jupyter"); !slices.ContainsFunc(j.Spec.Mounts, func(m runtime.Mount) bool { return m.Source == "/state/secrets/run/jupyter-token-1234" }) {
		t.Errorf("jupyter mounts = %v", j.Spec.Mounts)
	}
	if cs := st.Container("dev-code-server"); !slices.Contains(cs.Spec.Env, "PASSWORD="+s["code-server-password"]) {
		t.Errorf("code-server env = %v", cs.Spec.Env)
	}
	// The plan text lists secrets by name, not their files.
	if txt := st.String(); strings.Contains(txt, "/run/secrets") || !strings.Contains(txt, "secrets postgres-password") {
		t.Errorf("plan text:\n%s", txt)
	}

	// A rotated secret changes the hash, also when only a file holds it.
	h := pg.Hash
	s["postgres-password"] = "pw-2-AAAAAAAAAAAAAAAAAAAA"
	if compileSecrets(t, s).Container("dev-postgres").Hash == h {
		t.Error("rotating the postgres password left the config hash as it was")
	}
}

// TestRefreshSecrets: an earlier generation, applied again, gets the
// secrets of today (issue 14 row 11).
func TestRefreshSecrets(t *testing.T) {
	old := secretStore{"postgres-password": "pw-old", "jupyter-token": "tok-old", "code-server-password": "cs-old"}
	st := compileSecrets(t, old)
	now := secretStore{"postgres-password": "pw-new", "jupyter-token": "tok-new", "code-server-password": "cs-new"}
	want := compileSecrets(t, now)
	if err := st.RefreshSecrets(now.secret, now.file); err != nil {
		t.Fatal(err)
	}
	for _, c := range want.Containers {
		got := st.Container(c.Spec.Name)
		if got.Hash != c.Hash || fmt.Sprint(got.Spec.Env) != fmt.Sprint(c.Spec.Env) {
			t.Errorf("%s after refresh: hash %s env %v; want %s %v", c.Spec.Name, got.Hash, got.Spec.Env, c.Hash, c.Spec.Env)
		}
	}
	// A generation recorded before secret references existed: the value
	// sits in the environment under the catalog's variable.
	legacy := compileSecrets(t, old)
	cs := legacy.Container("dev-code-server")
	cs.SecretRefs = nil
	if err := legacy.RefreshSecrets(now.secret, now.file); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(legacy.Container("dev-code-server").Spec.Env, "PASSWORD=cs-new") {
		t.Errorf("legacy generation kept the old code-server password: %v", legacy.Container("dev-code-server").Spec.Env)
	}
}
