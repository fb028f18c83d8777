package project

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/toolbox"
)

// ExecOptions tune Exec.
type ExecOptions struct {
	// Target names one container: a container (ml-ollama) or a service
	// (ml/ollama). Anything naming no container or several gives ErrNotOne.
	Target string
	// Cmd is the command to run; empty runs a shell (enter): Shell, else
	// bash when the container has it, else sh. A container without the
	// program gets berth's toolbox (a read-only BusyBox) for the session,
	// where the engine lets berth reach the container from the host.
	Cmd   []string
	Shell string
	// Toolbox brings the toolbox even when the image has the program.
	Toolbox bool
	Env     []string // KEY=VALUE
	User    string   // user[:group]; the container's when empty
	// TTY gives the command a terminal; Resize then delivers size changes
	// (rows, cols).
	TTY    bool
	Resize <-chan [2]uint
	// Stdin is copied to the command when set; Stdout and Stderr receive
	// its output (one stream with TTY). Nil discards.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Events receives a notice when the toolbox is brought in.
	Events func(Event)
}

// ExecResult is how the command ended.
type ExecResult struct {
	Container string   `json:"container"`
	Cmd       []string `json:"cmd"`
	ExitCode  int      `json:"exitCode"`
	// Toolbox is where the toolbox was mounted for the session; empty
	// when it was not needed.
	Toolbox string `json:"toolbox,omitempty"`
}

// Exec runs a command, or a shell, in a running container and returns its
// exit code. A container that does not exist gives runtime.ErrNotFound, one
// that does not run ErrNotRunning, both with a hint. When ctx ends the
// command is left to finish on its own, as with docker exec, and the
// error is ctx's.
func (p *Project) Exec(ctx context.Context, o ExecOptions) (*ExecResult, error) {
	name, err := p.One(o.Target)
	if err != nil {
		return nil, err
	}
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	if err := running(ctx, e, name); err != nil {
		return nil, err
	}
	var argv []string // nil asks for a shell
	if len(o.Cmd) > 0 {
		argv = o.Cmd
	}
	sess, err := toolbox.Open(ctx, e, toolbox.Request{Container: name, Cmd: argv, Shell: o.Shell, User: o.User, Force: o.Toolbox}, toolboxProvider)
	if err != nil {
		return nil, toolboxError(err, name, o.User)
	}
	defer sess.Close()
	if sess.Used {
		newSink(o.Events).emit(Event{Kind: EventNotice, Container: name,
			Message: fmt.Sprintf("%s; using berth's toolbox (BusyBox, Debian busybox-static %s) at %s, read-only, for this session", sess.Reason, sess.Version, sess.Mount)})
	}
	argv = sess.Cmd
	env := o.Env
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		env = append(slices.Clip(env), sess.Env...)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	res := &ExecResult{Container: name, Cmd: argv}
	if sess.Used {
		res.Toolbox = sess.Mount
	}
	res.ExitCode, err = e.Exec(ctx, name, runtime.ExecOptions{Cmd: argv, Env: env, User: o.User, TTY: o.TTY,
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Resize: o.Resize})
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, engineError(err)
	}
	return res, nil
}

// One resolves a target to exactly one container of the config.
func (p *Project) One(target string) (string, error) {
	sel, err := p.cfg.Select([]string{target})
	if err != nil {
		return "", err
	}
	if len(sel) != 1 {
		var names []string
		for _, s := range sel {
			names = append(names, s.Container)
		}
		hint := "name one container: " + strings.Join(names, ", ")
		if len(names) == 0 {
			hint = "enable a service of it and run 'berth up'"
		}
		return "", hinted(errorOf(ErrNotOne, "%q names %d containers; this command works on one", target, len(sel)), hint)
	}
	return sel[0].Container, nil
}

// running checks that the engine runs the container, or says how to get
// there.
func running(ctx context.Context, e runtime.Engine, name string) error {
	c, err := e.InspectContainer(ctx, name)
	if errors.Is(err, runtime.ErrNotFound) {
		return hinted(errorOf(runtime.ErrNotFound, "container %s does not exist", name), fmt.Sprintf("create it with 'berth up %s'", name))
	}
	if err != nil {
		return engineError(err)
	}
	if c.State != runtime.StateRunning {
		return hinted(errorOf(ErrNotRunning, "container %s is %s, not running", name, c.State), fmt.Sprintf("start it with 'berth start %s'", name))
	}
	return nil
}

// toolboxProvider makes berth's toolbox: busybox-static from the
// built-in recipe, through the image builder's Debian index and download
// cache. Its lock is the machine's (in the cache's locks/), not a
// project's: the toolbox belongs to no config, and one pin serves every
// project on the machine.
func toolboxProvider(ctx context.Context) (*toolbox.Box, error) {
	b, err := image.NewBuilder(image.Options{})
	if err != nil {
		return nil, err
	}
	return toolbox.FromBuilder(b, image.Builtin()[toolbox.RecipeName])(ctx)
}

// toolboxError adds a hint to a container without the shell asked for.
func toolboxError(err error, ctr, user string) error {
	if errors.Is(err, toolbox.ErrNoShell) || errors.Is(err, runtime.ErrNoHostPID) {
		hint := fmt.Sprintf("run a program of the image directly: berth exec -it %s -- PROGRAM", ctr)
		if user != "" {
			// An unknown user fails every probe the same way.
			hint = fmt.Sprintf("check that user %q exists in %s, or run a program directly: berth exec -it %s -- PROGRAM", user, ctr, ctr)
		}
		return hinted(err, hint)
	}
	return engineError(err)
}
