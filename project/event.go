package project

import (
	"sync"
	"time"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/backup"
	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/runtime"
)

// EventKind says what an Event reports and which of its fields are set.
type EventKind string

const (
	// EventApply: one operation of a plan moved (Op, Phase; Progress
	// during a pull; Err when it failed).
	EventApply EventKind = "apply"
	// EventWaitLock: another berth holds the project's lock; this use case
	// waits for it (Message names the holder).
	EventWaitLock EventKind = "wait-lock"
	// EventRecover: an interrupted restore is being undone (Container).
	EventRecover EventKind = "recover"
	// EventBuild: a missing image is being built from its recipe
	// (Image; Message says which stage).
	EventBuild EventKind = "build"
	// EventBuilt: an image was built and loaded (Image, Message).
	EventBuilt EventKind = "built"
	// EventProxy: the proxy took its routes (Container, Count).
	EventProxy EventKind = "proxy"
	// EventGeneration: a generation was recorded (Generation).
	EventGeneration EventKind = "generation"
	// EventWarning: something went wrong that does not fail the use case
	// (Message, Err; Hint may say what to do).
	EventWarning EventKind = "warning"
	// EventBackup: a step of a backup, restore or verify (Backup).
	EventBackup EventKind = "backup"
	// EventNotice: something worth telling that is not a problem
	// (Message; Container when it concerns one).
	EventNotice EventKind = "notice"
)

// Event is one step of progress of a use case.
type Event struct {
	Time      time.Time `json:"time"`
	Kind      EventKind `json:"kind"`
	Message   string    `json:"message,omitempty"`
	Hint      string    `json:"hint,omitempty"`
	Container string    `json:"container,omitempty"`
	Image     string    `json:"image,omitempty"`
	// Op and Phase: EventApply.
	Op       *plan.Op               `json:"op,omitempty"`
	Phase    apply.Phase            `json:"phase,omitempty"`
	Progress *runtime.ProgressEvent `json:"progress,omitempty"`
	// Build: EventBuild, a step of an image build.
	Build *image.Event `json:"build,omitempty"`
	// Backup: EventBackup.
	Backup *backup.Event `json:"backup,omitempty"`
	// Generation: EventGeneration.
	Generation int `json:"generation,omitempty"`
	// Count: EventProxy (routes loaded).
	Count int `json:"count,omitempty"`
	// Err is the failure, for EventApply (phase failed) and EventWarning;
	// Error is its text, for JSON.
	Err   error  `json:"-"`
	Error string `json:"error,omitempty"`
}

// sink serialises calls of an Events callback and stamps events.
type sink struct {
	mu sync.Mutex
	f  func(Event)
}

func newSink(f func(Event)) *sink { return &sink{f: f} }

func (s *sink) emit(ev Event) {
	if s == nil || s.f == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Err != nil && ev.Error == "" {
		ev.Error = ev.Err.Error()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f(ev)
}

// applyEvent turns apply's event into the project's.
func (s *sink) applyEvent(ev apply.Event) {
	out := Event{Time: ev.Time, Kind: EventApply, Op: ev.Op, Phase: ev.Phase, Message: ev.Message, Progress: ev.Progress, Err: ev.Err}
	if ev.Op != nil && ev.Op.Container != nil {
		out.Container = ev.Op.Container.Spec.Name
	}
	s.emit(out)
}

// backupEvent turns a backup event into the project's.
func (s *sink) backupEvent(ev backup.Event) {
	s.emit(Event{Kind: EventBackup, Container: ev.Container, Message: ev.Msg, Backup: &ev})
}
