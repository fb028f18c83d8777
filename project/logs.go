package project

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/voidnxlabs/berth/runtime"
)

// LogsOptions tune Logs.
type LogsOptions struct {
	// Targets select containers; empty means every enabled service.
	Targets []string
	// Follow keeps delivering new lines until every container stops or ctx
	// ends; lines come as they arrive. Without it, the lines of several
	// containers are delivered merged in time order.
	Follow bool
	// Since keeps the lines since a time; zero keeps all.
	Since time.Time
	// Tail keeps the last Tail lines of each container; negative keeps
	// all, zero none (with Follow: only new lines).
	Tail int
	// Timestamps asks the engine for the time it received each line
	// (LogLine.Stamp, LogLine.Time).
	Timestamps bool
	// Line receives each line; calls are serialised. Required.
	Line func(LogLine)
	// Events receives notices (a selected container that does not exist).
	Events func(Event)
}

// LogLine is one line one container wrote.
type LogLine struct {
	Container string `json:"container"`
	Stderr    bool   `json:"stderr,omitempty"`
	// Time is when the engine received the line; zero unless timestamps
	// were asked for (or needed to merge). Stamp is that time as the
	// engine wrote it.
	Time  time.Time `json:"time,omitzero"`
	Stamp string    `json:"stamp,omitempty"`
	// Text is the line with its newline and without the timestamp. A last
	// line without a newline gets one.
	Text string `json:"text"`
}

// LogsResult says whose logs were read.
type LogsResult struct {
	// Selected are the containers the targets name; Read those that
	// exist. Missing are reported as EventNotice too.
	Selected []string `json:"selected"`
	Read     []string `json:"read"`
}

// Logs delivers what containers wrote to stdout and stderr, line by line.
// A selected container that does not exist is reported as an event and
// left out; none existing is an error wrapping runtime.ErrNotFound.
// Cancelling ctx ends Follow without an error.
func (p *Project) Logs(ctx context.Context, o LogsOptions) (*LogsResult, error) {
	if o.Line == nil {
		return nil, fmt.Errorf("%w: logs needs a Line callback", ErrInvalidOption)
	}
	sel, err := p.cfg.Select(o.Targets)
	if err != nil {
		return nil, err
	}
	res := &LogsResult{Selected: []string{}, Read: []string{}}
	for _, s := range sel {
		res.Selected = append(res.Selected, s.Container)
	}
	if len(sel) == 0 {
		return res, hinted(errorOf(ErrNothingSelected, "no containers selected"), "enable a service and run 'berth up'")
	}
	e, err := p.Engine(ctx)
	if err != nil {
		return res, err
	}
	events := newSink(o.Events)
	for _, name := range res.Selected {
		_, err := e.InspectContainer(ctx, name)
		if errors.Is(err, runtime.ErrNotFound) {
			events.emit(Event{Kind: EventNotice, Container: name, Message: fmt.Sprintf("%s does not exist; 'berth up %s' creates it", name, name)})
			continue
		}
		if err != nil {
			return res, engineError(err)
		}
		res.Read = append(res.Read, name)
	}
	if len(res.Read) == 0 {
		return res, hinted(errorOf(runtime.ErrNotFound, "none of the selected containers exists"), "create them with 'berth up "+strings.Join(o.Targets, " ")+"'")
	}
	lo := runtime.LogOptions{Follow: o.Follow, Since: o.Since, Tail: o.Tail, Timestamps: o.Timestamps}
	line := newLineSink(o.Line)
	if o.Follow || len(res.Read) == 1 {
		// One container's lines are in order as they come: stream them.
		err = p.followLogs(ctx, e, res.Read, lo, line)
	} else {
		err = p.mergedLogs(ctx, e, res.Read, lo, line)
	}
	if err != nil && ctx.Err() != nil {
		return res, nil // a cancelled Follow ends normally
	}
	return res, err
}

type lineSink struct {
	mu sync.Mutex
	f  func(LogLine)
}

func newLineSink(f func(LogLine)) *lineSink { return &lineSink{f: f} }

func (s *lineSink) emit(l LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f(l)
}

// lineWriter cuts what an engine writes into lines and delivers each,
// keeping a partial line until its end arrives.
type lineWriter struct {
	sink      *lineSink
	container string
	stderr    bool
	stamps    bool
	buf       []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	i := bytes.LastIndexByte(l.buf, '\n')
	if i < 0 {
		return len(b), nil
	}
	for _, line := range splitLines(l.container, l.stderr, l.stamps, l.buf[:i+1]) {
		l.sink.emit(line)
	}
	l.buf = append(l.buf[:0], l.buf[i+1:]...)
	return len(b), nil
}

// flush ends a partial last line.
func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		_, _ = l.Write([]byte("\n"))
	}
}

// followLogs streams every container's logs at once, one goroutine each,
// until all end (with Follow: until they stop or ctx ends).
func (p *Project) followLogs(ctx context.Context, e runtime.Engine, names []string, lo runtime.LogOptions, sink *lineSink) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			out := &lineWriter{sink: sink, container: n, stamps: lo.Timestamps}
			serr := &lineWriter{sink: sink, container: n, stderr: true, stamps: lo.Timestamps}
			errs[i] = e.Logs(ctx, n, lo, out, serr)
			out.flush()
			serr.flush()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", names[i], engineError(err))
		}
	}
	return nil
}

// mergedLogs reads every container's logs (with timestamps, to order them
// when there are several), then delivers them merged in time order. Lines
// of one container keep their order.
func (p *Project) mergedLogs(ctx context.Context, e runtime.Engine, names []string, lo runtime.LogOptions, sink *lineSink) error {
	if len(names) > 1 {
		lo.Timestamps = true
	}
	outs := make([]bytes.Buffer, len(names))
	errBufs := make([]bytes.Buffer, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { errs[i] = e.Logs(ctx, n, lo, &outs[i], &errBufs[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", names[i], engineError(err))
		}
	}
	var lines []LogLine
	for i, n := range names {
		lines = append(lines, splitLines(n, false, lo.Timestamps, outs[i].Bytes())...)
		lines = append(lines, splitLines(n, true, lo.Timestamps, errBufs[i].Bytes())...)
	}
	for _, l := range sortLines(lines) {
		sink.emit(l)
	}
	return nil
}

// splitLines splits data into lines; with stamps, each "TIMESTAMP text\n"
// line gets its time. A line without a timestamp sorts first and keeps
// its text as it is.
func splitLines(name string, stderr, stamps bool, data []byte) []LogLine {
	var out []LogLine
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = append(slices.Clip(data), '\n'), nil
		} else {
			line, data = data[:i+1], data[i+1:]
		}
		l := LogLine{Container: name, Stderr: stderr, Text: string(line)}
		if stamps {
			if stamp, rest, ok := bytes.Cut(line, []byte(" ")); ok {
				if t, err := time.Parse(time.RFC3339Nano, string(stamp)); err == nil {
					l.Time, l.Stamp, l.Text = t, string(stamp), string(rest)
				}
			}
		}
		out = append(out, l)
	}
	return out
}

// sortLines orders lines by time, keeping the order of lines with the
// same time (and so each container's own order).
func sortLines(lines []LogLine) []LogLine {
	slices.SortStableFunc(lines, func(a, b LogLine) int { return a.Time.Compare(b.Time) })
	return lines
}
