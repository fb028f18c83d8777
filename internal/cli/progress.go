package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/internal/termsafe"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/project"
)

// progress draws apply events. On a terminal it keeps one live line per
// object (container, network, image, path), redrawn in place; otherwise it
// prints one plain line per finished step, which reads well in CI logs.
type progress struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	order []string
	lines map[string]*progressLine
	drawn int // lines drawn last time (tty)
	start map[string]time.Time
	stop  chan struct{}
	done  sync.WaitGroup
}

type progressLine struct {
	text  string
	phase apply.Phase
	since time.Time
}

func newProgress(w io.Writer, tty bool) *progress {
	p := &progress{w: w, tty: tty, lines: map[string]*progressLine{}, start: map[string]time.Time{}, stop: make(chan struct{})}
	if tty {
		// Redraw now and then so elapsed times move during long waits.
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.mu.Lock()
					p.draw()
					p.mu.Unlock()
				}
			}
		}()
	}
	return p
}

// Event shows one apply step of the library's events.
func (p *progress) Event(ev project.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := ev.Op.Target
	l := p.lines[key]
	if l == nil {
		l = &progressLine{}
		p.lines[key] = l
		p.order = append(p.order, key)
	}
	// Engine messages and errors are text from outside berth.
	desc := termsafe.Line(ev.Op.Describe())
	errText := termsafe.Line(fmt.Sprint(ev.Err))
	switch ev.Phase {
	case apply.Started:
		p.start[ev.Op.ID] = ev.Time
		l.text, l.phase, l.since = desc, ev.Phase, ev.Time
		if !p.tty && ev.Op.Kind == plan.WaitHealthy {
			fmt.Fprintf(p.w, "berth: %s ...\n", desc)
		}
	case apply.Progress:
		if ev.Progress != nil {
			msg := termsafe.Line(ev.Progress.Status)
			if ev.Progress.Total > 0 {
				msg = fmt.Sprintf("%s %d%%", msg, ev.Progress.Current*100/ev.Progress.Total)
			}
			l.text = desc + ": " + msg
		} else if ev.Message != "" {
			l.text = desc + ": " + termsafe.Line(ev.Message)
		}
	case apply.Done:
		el := ev.Time.Sub(p.start[ev.Op.ID]).Round(10 * time.Millisecond)
		l.text, l.phase = fmt.Sprintf("%s: done in %s", desc, el), ev.Phase
		if !p.tty {
			fmt.Fprintf(p.w, "berth: %s: done (%s)\n", desc, el)
		}
	case apply.Failed:
		l.text, l.phase = fmt.Sprintf("%s: failed: %s", desc, errText), ev.Phase
		if !p.tty {
			fmt.Fprintf(p.w, "berth: %s: failed: %s\n", desc, errText)
		}
	case apply.Skipped:
		l.text, l.phase = fmt.Sprintf("%s: skipped (%s)", desc, termsafe.Line(ev.Message)), ev.Phase
		if !p.tty {
			fmt.Fprintf(p.w, "berth: %s: skipped (%s)\n", desc, termsafe.Line(ev.Message))
		}
	}
	p.draw()
}

// draw rewrites the live block on a terminal.
func (p *progress) draw() {
	if !p.tty {
		return
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, k := range p.order {
		l := p.lines[k]
		mark := " "
		switch l.phase {
		case apply.Started, apply.Progress:
			mark = spinner[int(time.Since(l.since)/(250*time.Millisecond))%len(spinner)]
		case apply.Done:
			mark = "+"
		case apply.Failed:
			mark = "!"
		case apply.Skipped:
			mark = "-"
		}
		text := l.text
		if l.phase == apply.Started || l.phase == apply.Progress {
			text += fmt.Sprintf(" (%s)", time.Since(l.since).Round(time.Second))
		}
		fmt.Fprintf(&b, "\r\x1b[2K%s %s\n", mark, text)
	}
	p.drawn = len(p.order)
	io.WriteString(p.w, b.String())
}

var spinner = []string{"|", "/", "-", "\\"}

// Close stops the redraws and leaves the final state on screen.
func (p *progress) Close() {
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	p.draw()
	p.mu.Unlock()
}
