package compose

import (
	_ "embed"
	"fmt"
	"strings"
)

// Status says what Import does with a Compose field.
type Status string

const (
	// Mapped: the field becomes the berth option named in Field.Berth.
	Mapped Status = "mapped"
	// Noted: mapped, with a difference the note says.
	Noted Status = "mapped with a note"
	// Refused: not mapped; Import reports it with its line and a hint.
	Refused Status = "refused"
	// Ignored: carries no meaning for the running containers (version,
	// x- fields used as YAML anchors); reported nowhere.
	Ignored Status = "ignored"
)

// Field is one Compose field and what Import does with it. The table
// (fields.tsv) is the single source of docs/compose.md, and a test checks
// that it names every field of compose-go's types, so a field the loader
// learns cannot be dropped without a row.
type Field struct {
	Path   string // e.g. services.*.deploy.resources.limits.memory
	Status Status
	Berth  string // the berth option, or why not
}

const (
	whyNoNet     = "every berth service runs on its kit's private bridge network at a fixed address; publish ports instead"
	whyNoPriv    = "berth never grants extra privileges to a container: run it with the engine yourself if it needs them"
	whyNoDevices = "berth passes GPUs only (gpu:); other host devices are not passed"
	whyNoSecret  = "put the value in a file and name it in envFile:, or let a catalog service generate it"
	whySwarm     = "a Swarm setting; berth runs one container per service on one host"
	whyOneCtr    = "berth runs exactly one container per service"

	whySecretService = "Compose secrets are files in /run/secrets; write the value to a file and mount it read-only, or pass it with envFile:"
)

// fieldsTSV is the table; see its header.
//
//go:embed fields.tsv
var fieldsTSV string

// fields is the table, read once; a malformed line is a bug of the
// package and panics (every test reads it).
var fields = parseFields(fieldsTSV)

// Fields returns the table, in the order docs/compose.md lists it.
func Fields() []Field { return fields }

var statusWords = map[string]Status{"mapped": Mapped, "noted": Noted, "refused": Refused, "ignored": Ignored}

func parseFields(text string) []Field {
	reasons := map[string]string{"whyNoNet": whyNoNet, "whyNoPriv": whyNoPriv, "whyNoDevices": whyNoDevices, "whyNoSecret": whyNoSecret,
		"whySwarm": whySwarm, "whyOneCtr": whyOneCtr, "whySecretService": whySecretService}
	var out []Field
	for n, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		st, ok := statusWords[cols[min(1, len(cols)-1)]]
		if len(cols) != 3 || !ok {
			panic(fmt.Sprintf("compose/fields.tsv:%d: want PATH<TAB>STATUS<TAB>TEXT: %q", n+1, line))
		}
		why := cols[2]
		if name, ok := strings.CutPrefix(why, "$"); ok {
			if why, ok = reasons[name]; !ok {
				panic(fmt.Sprintf("compose/fields.tsv:%d: no constant %s in fields.go", n+1, name))
			}
		}
		out = append(out, Field{Path: cols[0], Status: st, Berth: why})
	}
	return out
}
