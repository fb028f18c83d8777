package project

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/pgsql"
	"github.com/voidnxlabs/berth/runtime"
)

// ErrUnknownSecret: no enabled service of the project uses a generated
// secret of that name.
var ErrUnknownSecret = errors.New("unknown secret")

// PostgresPassword is the secret whose rotation changes the role's
// password in the running server too.
const PostgresPassword = "postgres-password"

// Secret is a generated secret and the containers receiving it; its JSON
// form is what `berth secret list --json` prints. The value is never part
// of it.
type Secret struct {
	Name   string   `json:"name"`
	UsedBy []string `json:"usedBy"`
}

// Secrets lists the generated secrets the config uses, sorted by name.
func (p *Project) Secrets() ([]Secret, error) {
	st, _, err := p.Desired(nil)
	if err != nil {
		return nil, err
	}
	users := secretUsers(st)
	out := []Secret{}
	for _, n := range slices.Sorted(maps.Keys(users)) {
		out = append(out, Secret{Name: n, UsedBy: users[n]})
	}
	return out, nil
}

// SecretShow returns a secret's value.
func (p *Project) SecretShow(name string) (string, error) {
	st, _, err := p.Desired(nil)
	if err != nil {
		return "", err
	}
	if err := knownSecret(st, name); err != nil {
		return "", err
	}
	sd, err := p.StateDir()
	if err != nil {
		return "", err
	}
	return sd.Secret(name)
}

// SecretRotateOptions tune SecretRotate.
type SecretRotateOptions struct {
	Name string
	// Wait waits for the recreated services to be healthy; Timeout bounds
	// each wait (2 minutes when zero).
	Wait       bool
	Timeout    time.Duration
	NoLockWait bool
	Events     func(Event)
}

// SecretRotate makes a new value, stores it, and recreates the containers
// that receive it (an Up of them, recorded as "secret rotate NAME"). For
// PostgresPassword the role's password is changed in the running server
// first, since PostgreSQL reads POSTGRES_PASSWORD only when it creates the
// cluster.
func (p *Project) SecretRotate(ctx context.Context, o SecretRotateOptions) (*RunResult, error) {
	st, _, err := p.Desired(nil)
	if err != nil {
		return nil, err
	}
	if err := knownSecret(st, o.Name); err != nil {
		return nil, err
	}
	users := secretUsers(st)[o.Name]
	sd, err := p.StateDir()
	if err != nil {
		return nil, err
	}
	nv, err := sd.RotateSecret(o.Name)
	if err != nil {
		return nil, err
	}
	if o.Name == PostgresPassword {
		if err := p.alterPostgresPassword(ctx, st, users, nv); err != nil {
			return nil, err
		}
	}
	// Up compiles again: the new value changes the users' config hash.
	return p.Up(ctx, UpOptions{Targets: users, Wait: o.Wait, Timeout: o.Timeout, NoLockWait: o.NoLockWait,
		Command: "secret rotate " + o.Name, Events: o.Events})
}

// secretUsers maps each generated secret to the containers receiving it.
func secretUsers(st *desired.State) map[string][]string {
	out := map[string][]string{}
	for _, c := range st.Containers {
		for _, s := range c.Secrets {
			out[s] = append(out[s], c.Spec.Name)
		}
	}
	return out
}

func knownSecret(st *desired.State, name string) error {
	users := secretUsers(st)
	if _, ok := users[name]; ok {
		return nil
	}
	names := slices.Sorted(maps.Keys(users))
	hint := "no enabled service uses a generated secret"
	if len(names) > 0 {
		hint = "the config's secrets are: " + strings.Join(names, ", ")
	}
	return hinted(errorOf(ErrUnknownSecret, "no secret %q in this project", name), hint)
}

// alterPostgresPassword changes the password in every running server that
// uses the secret. A server not created yet gets the new one when it is.
func (p *Project) alterPostgresPassword(ctx context.Context, st *desired.State, users []string, pw string) error {
	e, err := p.Engine(ctx)
	if err != nil {
		return err
	}
	for _, name := range users {
		dc := st.Container(name)
		if dc == nil || !isPostgres(dc) {
			continue // a client of the server, not the server
		}
		oc, err := e.InspectContainer(ctx, name)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // no cluster yet: it is created with the new password
		}
		if err != nil {
			return engineError(err)
		}
		if oc.State != runtime.StateRunning {
			return hinted(errorOf(ErrNotRunning, "%s is %s, so its password cannot be changed", name, oc.State),
				fmt.Sprintf("start it ('berth start %s') and rotate again", name))
		}
		var port uint16
		if len(dc.Listen) > 0 {
			port = dc.Listen[0]
		}
		if err := pgsql.AlterPassword(ctx, e, name, port, runtime.EnvValue(dc.Spec.Env, "POSTGRES_USER"), pw); err != nil {
			var ee *pgsql.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("changing the password in %s: %s", name, strings.TrimSpace(ee.Stderr))
			}
			return hinted(err, "the new value is stored; fix the cause and rotate again")
		}
	}
	return nil
}

// isPostgres reports a PostgreSQL server: the dev kit's, or a service
// whose readiness check speaks PostgreSQL's protocol.
func isPostgres(c *desired.Container) bool {
	return (c.Health != nil && c.Health.Kind == "postgres") || (c.Kit == "dev" && c.Service == "postgres")
}
