// Package pgsql runs psql inside the dev kit's PostgreSQL container
// through the engine's exec, over TCP to the server's own address with the
// generated password in the environment: no prompt, and the password is
// checked as any client's would be (the container's local socket trusts
// everyone, TCP does not).
package pgsql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/runtime"
)

// Options say what to run.
type Options struct {
	Container string // dev-postgres
	Port      uint16 // the port the server listens on in the container
	User      string // default postgres
	Database  string // default: the user's name
	Password  string
	// Args go to psql after the connection options: -c 'select 1', -f x.
	Args   []string
	TTY    bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Resize <-chan [2]uint
}

// ErrAuth reports a password the server refused.
var ErrAuth = errors.New("password authentication failed")

// ErrNoDatabase reports a database that does not exist.
var ErrNoDatabase = errors.New("database does not exist")

// ExitError is psql's own non-zero exit: 1 for a fatal error of psql, 2
// for a bad connection, 3 for an error in a script.
type ExitError struct {
	Code   int
	Stderr string // the end of what psql wrote to stderr
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("psql exited with status %d", e.Code)
	}
	return fmt.Sprintf("psql exited with status %d: %s", e.Code, msg)
}

// Command is the psql command line Run executes, without the password.
func Command(o Options) []string {
	user := o.User
	if user == "" {
		user = "postgres"
	}
	cmd := []string{"psql", "--host=127.0.0.1", "--username=" + user, "--no-password"}
	if o.Port != 0 {
		cmd = append(cmd, "--port="+strconv.Itoa(int(o.Port)))
	}
	if o.Database != "" {
		cmd = append(cmd, "--dbname="+o.Database)
	}
	return append(cmd, o.Args...)
}

// Run runs psql in the container and returns when it ends. A non-zero
// exit is an *ExitError, wrapping ErrAuth or ErrNoDatabase when that is
// what psql said.
func Run(ctx context.Context, e runtime.Engine, o Options) error {
	c, err := e.InspectContainer(ctx, o.Container)
	if err != nil {
		return fmt.Errorf("finding %s: %w", o.Container, err)
	}
	if c.State != runtime.StateRunning {
		return fmt.Errorf("%s is %s: %w", o.Container, c.State, ErrNotRunning)
	}
	var tail tailBuffer
	stderr := io.Writer(&tail)
	if o.Stderr != nil {
		stderr = io.MultiWriter(o.Stderr, &tail)
	}
	stdout := o.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	env := []string{"PGPASSWORD=" + o.Password, "PGAPPNAME=berth-psql"}
	if o.TTY {
		env = append(env, "TERM=xterm")
	}
	code, err := e.Exec(ctx, o.Container, runtime.ExecOptions{
		Cmd: Command(o), Env: env, TTY: o.TTY,
		Stdin: o.Stdin, Stdout: stdout, Stderr: stderr, Resize: o.Resize,
	})
	if err != nil {
		return fmt.Errorf("running psql in %s: %w", o.Container, err)
	}
	if code == 0 {
		return nil
	}
	ee := &ExitError{Code: code, Stderr: tail.String()}
	switch msg := tail.String(); {
	case strings.Contains(msg, "password authentication failed"):
		return fmt.Errorf("%w: %w", ErrAuth, ee)
	case strings.Contains(msg, "does not exist") && strings.Contains(msg, "database"):
		return fmt.Errorf("%w: %w", ErrNoDatabase, ee)
	}
	return ee
}

// ErrNotRunning reports a container that is not running.
var ErrNotRunning = errors.New("not running")

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b bytes.Buffer }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b.Write(p)
	if t.b.Len() > 4096 {
		rest := t.b.Bytes()[t.b.Len()-4096:]
		t.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return t.b.String() }

// AlterPassword sets user's password in the server running in container,
// through its local socket, which trusts the container's own users, so the
// old password is not needed. The new value goes to psql on its standard
// input, never on a command line. A failure is an *ExitError.
func AlterPassword(ctx context.Context, e runtime.Engine, container string, port uint16, user, password string) error {
	if user == "" {
		user = "postgres"
	}
	sql := fmt.Sprintf("ALTER ROLE \"%s\" PASSWORD '%s';\n", strings.ReplaceAll(user, `"`, `""`), strings.ReplaceAll(password, "'", "''"))
	cmd := []string{"psql", "--no-password", "--username=" + user, "--dbname=postgres", "-v", "ON_ERROR_STOP=1", "-q"}
	if port != 0 {
		cmd = append(cmd, "--port="+strconv.Itoa(int(port)))
	}
	var out tailBuffer
	code, err := e.Exec(ctx, container, runtime.ExecOptions{Cmd: cmd, Stdin: strings.NewReader(sql), Stdout: &out, Stderr: &out})
	if err != nil {
		return fmt.Errorf("running psql in %s: %w", container, err)
	}
	if code != 0 {
		return &ExitError{Code: code, Stderr: out.String()}
	}
	return nil
}
