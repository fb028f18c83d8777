package cli

import (
	"fmt"

	"github.com/voidnxlabs/berth/project"
)

// printEvent prints a progress event of the library on stderr. Apply
// steps go through a progress display instead (runEvents).
func (g *globals) printEvent(ev project.Event) {
	switch ev.Kind {
	case project.EventWaitLock:
		fmt.Fprintf(g.stderr, "berth: %s (Ctrl-C to give up)\n", ev.Message)
	case project.EventRecover:
		fmt.Fprintf(g.stderr, "berth: recovering %s: %s\n", ev.Container, ev.Message)
	case project.EventBuild:
		if ev.Build != nil {
			if line := g.progress(); line != nil {
				line(*ev.Build)
			}
			return
		}
		fmt.Fprintf(g.stderr, "berth: %s\n", ev.Message)
	case project.EventWarning:
		if ev.Error != "" {
			fmt.Fprintf(g.stderr, "berth: warning: %s: %s\n", ev.Message, ev.Error)
		} else {
			fmt.Fprintf(g.stderr, "berth: warning: %s\n", ev.Message)
		}
		if ev.Hint != "" {
			fmt.Fprintf(g.stderr, "berth: hint: %s\n", ev.Hint)
		}
	case project.EventApply:
		// Only runEvents shows apply steps.
	default:
		if ev.Message != "" {
			fmt.Fprintf(g.stderr, "berth: %s\n", ev.Message)
		}
	}
}

// runEvents shows a run's events: apply steps in a progress display
// (live lines on a terminal, one line per finished step elsewhere), the
// rest as lines. Call the returned function when the run ends.
func (g *globals) runEvents() (func(project.Event), func()) {
	var prog *progress
	return func(ev project.Event) {
			if ev.Kind != project.EventApply {
				g.printEvent(ev)
				return
			}
			if prog == nil {
				prog = newProgress(g.stderr, isTerminal(g.stderr))
			}
			prog.Event(ev)
		}, func() {
			if prog != nil {
				prog.Close()
			}
		}
}
