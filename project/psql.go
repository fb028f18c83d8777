package project

import (
	"context"
	"errors"
	"io"
	"slices"

	"github.com/voidnxlabs/berth/pgsql"
	"github.com/voidnxlabs/berth/runtime"
)

// PsqlOptions say how Psql connects and where its streams go.
type PsqlOptions struct {
	// Database defaults to the config's POSTGRES_DB; User to its
	// POSTGRES_USER.
	Database, User string
	// Args go to psql after the connection's.
	Args []string
	// TTY gives psql a terminal (an interactive session).
	TTY            bool
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Psql runs PostgreSQL's client inside dev-postgres, connected over TCP
// with the password berth generated (or the one the config sets), so that
// there is no prompt and the password is checked. A refused password is
// an error matching pgsql.ErrAuth, a missing database pgsql.ErrNoDatabase,
// each with a hint; psql's own non-zero exit is a *pgsql.ExitError (psql
// has said why on Stderr).
func (p *Project) Psql(ctx context.Context, o PsqlOptions) error {
	r, err := p.RunningService(ctx, "dev", "postgres")
	if err != nil {
		return err
	}
	dc := r.Container
	if o.User == "" {
		o.User = runtime.EnvValue(dc.Spec.Env, "POSTGRES_USER")
	}
	if o.Database == "" {
		o.Database = runtime.EnvValue(dc.Spec.Env, "POSTGRES_DB")
	}
	sd, err := p.StateDir()
	if err != nil {
		return err
	}
	pw, err := sd.Secret("postgres-password")
	if err != nil {
		return err
	}
	if v := runtime.EnvValue(dc.Spec.Env, "POSTGRES_PASSWORD"); v != "" && !slices.Contains(dc.Secrets, "postgres-password") {
		pw = v // set in the config by hand
	}
	var port uint16
	if len(dc.Listen) > 0 {
		port = dc.Listen[0]
	}
	err = pgsql.Run(ctx, r.Engine, pgsql.Options{
		Container: dc.Spec.Name, Port: port, User: o.User, Database: o.Database, Password: pw, Args: o.Args,
		TTY: o.TTY, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr,
	})
	var ee *pgsql.ExitError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgsql.ErrAuth):
		return hinted(errorOf(pgsql.ErrAuth, "%s refused the generated password", dc.Spec.Name),
			"the database was initialised with another password (a data path from elsewhere, or one changed by hand); set it back with ALTER ROLE, or 'berth secret rotate postgres-password' while "+dc.Spec.Name+" runs")
	case errors.Is(err, pgsql.ErrNoDatabase):
		return hinted(errorOf(pgsql.ErrNoDatabase, "database %q does not exist", o.Database), "list them with: berth psql postgres -- -l")
	case errors.As(err, &ee):
		return ee
	}
	return engineError(err)
}
