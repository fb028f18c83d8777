package project

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/image/deb"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/toolbox"
)

// Errors a caller branches on. Errors from the layers below keep their own
// sentinels: runtime.ErrUnreachable (exit code 3 in the CLI),
// runtime.ErrNotFound, state.ErrLocked, config.ErrNoConfig, config.Errors
// and *config.TargetError.
var (
	// ErrUnknownRuntime: the runtime named is none berth can drive.
	ErrUnknownRuntime = errors.New("unknown runtime")
	// ErrNotRunning: the container exists but does not run.
	ErrNotRunning = errors.New("container is not running")
	// ErrNotOne: a target names no container or several, where one is
	// needed (exec, enter).
	ErrNotOne = errors.New("target does not name exactly one container")
	// ErrNothingSelected: the targets select no container.
	ErrNothingSelected = errors.New("no containers selected")
	// ErrNoShell: the container has no shell and the toolbox cannot be
	// brought in.
	ErrNoShell = toolbox.ErrNoShell
	// ErrInvalidOption: an option has a value the use case refuses.
	ErrInvalidOption = errors.New("invalid option")
)

// Error is an error with a hint for people: what to do about it. The CLI
// prints the hint on its own line; the web server shows it beside the
// error.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Hint returns the hint of the outermost *Error in err's chain, or "".
func Hint(err error) string {
	var he *Error
	if errors.As(err, &he) {
		return he.Hint
	}
	return ""
}

func hinted(err error, hint string) error { return &Error{Err: err, Hint: hint} }

// ApplyError is an apply that failed part way: the operations that failed,
// each with its error. Running the same use case again picks up where it
// stopped.
type ApplyError struct {
	Action plan.Action
	Failed []*apply.OpError
	// Err is the whole error as apply returned it (failures and the
	// context's end).
	Err error
}

func (e *ApplyError) Error() string {
	if len(e.Failed) == 0 {
		return e.Err.Error()
	}
	lines := make([]string, len(e.Failed))
	for i, oe := range e.Failed {
		lines[i] = fmt.Sprintf("%s: %v", oe.Op.Describe(), oe.Err)
	}
	return fmt.Sprintf("%d step(s) failed:\n  %s", len(e.Failed), strings.Join(lines, "\n  "))
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Hint says what to do next, by the kind of the failed operations.
func (e *ApplyError) Hint() string {
	for _, oe := range e.Failed {
		if oe.Op.Kind == plan.WaitHealthy {
			return "see why with 'berth logs NAME'; allow more time with --timeout"
		}
	}
	for _, oe := range e.Failed {
		if oe.Op.Kind == plan.PullImage {
			return "images berth builds itself are made with 'berth image build NAME --load'; others need a reachable registry"
		}
	}
	return fmt.Sprintf("run 'berth %s' again once the cause is fixed: it picks up where this run stopped", e.Action)
}

func newApplyError(action plan.Action, err error) *ApplyError {
	ae := &ApplyError{Action: action, Err: err}
	for _, e := range flatten(err) {
		var oe *apply.OpError
		if errors.As(e, &oe) {
			ae.Failed = append(ae.Failed, oe)
		}
	}
	return ae
}

// flatten unfolds joined errors.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// imageError adds the hint a user needs for the build errors they can act
// on. keyrings are the keyrings the build was given.
func imageError(err error, keyrings []string) error {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) && (pe.Path == deb.DefaultKeyring || slices.Contains(keyrings, pe.Path)):
		return hinted(err, "install the debian-archive-keyring package, or pass --keyring FILE")
	case errors.Is(err, deb.ErrExpired):
		return hinted(err, "the mirror serves an old snapshot; pass --ignore-valid-until to accept it")
	case errors.Is(err, deb.ErrBadSignature), errors.Is(err, deb.ErrChecksum):
		return hinted(err, "the archive or the download cache served something other than what Debian signed; nothing was built")
	}
	return err
}

// kindError keeps a message as people read it while matching a sentinel
// with errors.Is.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func errorOf(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// Errorf is an error with format's message that matches kind with
// errors.Is and, when hint is not empty, carries it as an *Error: for the
// use-case packages beside this one (project/cluster).
func Errorf(kind error, hint, format string, args ...any) error {
	err := errorOf(kind, format, args...)
	if hint == "" {
		return err
	}
	return hinted(err, hint)
}
