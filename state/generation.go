package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// Generation is one successful apply: the configuration it came from and
// the desired state it made real. Generations are numbered from 1 and never
// renumbered; a rollback makes a new generation with the old content.
type Generation struct {
	Number int       `json:"number"`
	Time   time.Time `json:"time"`
	// Command is what made it: "up", "up ml", "rollback 3".
	Command string `json:"command"`
	// ConfigFile is where the configuration was read from.
	ConfigFile string `json:"configFile,omitempty"`
	// Digest identifies the desired state (sha256 of its JSON), so an
	// apply that changes nothing adds no generation.
	Digest string `json:"digest"`
	// Containers and Networks count what the desired state holds.
	Containers int `json:"containers"`
	Networks   int `json:"networks"`

	// Config is the configuration file's text; Desired the desired state as
	// JSON. Both are loaded only by Dir.Generation.
	Config  []byte          `json:"-"`
	Desired json.RawMessage `json:"-"`
}

// Record stores g as the next generation and returns it with its number
// and time set. The generation appears whole or not at all.
func (d *Dir) Record(g Generation) (Generation, error) {
	gens, err := d.Generations()
	if err != nil {
		return Generation{}, err
	}
	g.Number = 1
	if len(gens) > 0 {
		g.Number = gens[len(gens)-1].Number + 1
	}
	if g.Time.IsZero() {
		g.Time = time.Now().UTC()
	}
	dir := d.path("generations")
	tmp, err := os.MkdirTemp(dir, ".tmp-")
	if err != nil {
		return Generation{}, fmt.Errorf("recording generation: %w", err)
	}
	defer os.RemoveAll(tmp)
	meta, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return Generation{}, fmt.Errorf("recording generation: %w", err)
	}
	for name, data := range map[string][]byte{"meta.json": meta, "berth.yaml": g.Config, "desired.json": g.Desired} {
		if err := writeFile(filepath.Join(tmp, name), data); err != nil {
			return Generation{}, fmt.Errorf("recording generation: %w", err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(dir, strconv.Itoa(g.Number))); err != nil {
		return Generation{}, fmt.Errorf("recording generation: %w", err)
	}
	return g, nil
}

// Generations lists the generations, oldest first, without their content.
func (d *Dir) Generations() ([]Generation, error) {
	ents, err := os.ReadDir(d.path("generations"))
	if err != nil {
		return nil, fmt.Errorf("listing generations: %w", err)
	}
	var out []Generation
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue // a temporary directory left by a crash
		}
		g, err := d.meta(n)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

func (d *Dir) meta(n int) (Generation, error) {
	data, err := os.ReadFile(d.path("generations", strconv.Itoa(n), "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Generation{}, fmt.Errorf("generation %d: %w", n, ErrNotFound)
	}
	if err != nil {
		return Generation{}, fmt.Errorf("reading generation %d: %w", n, err)
	}
	var g Generation
	if err := json.Unmarshal(data, &g); err != nil {
		return Generation{}, fmt.Errorf("reading generation %d: %w", n, err)
	}
	return g, nil
}

// Generation loads generation n with its content.
func (d *Dir) Generation(n int) (Generation, error) {
	g, err := d.meta(n)
	if err != nil {
		return Generation{}, err
	}
	dir := d.path("generations", strconv.Itoa(n))
	if g.Config, err = os.ReadFile(filepath.Join(dir, "berth.yaml")); err != nil {
		return Generation{}, fmt.Errorf("reading generation %d: %w", n, err)
	}
	if g.Desired, err = os.ReadFile(filepath.Join(dir, "desired.json")); err != nil {
		return Generation{}, fmt.Errorf("reading generation %d: %w", n, err)
	}
	return g, nil
}

// Latest returns the newest generation with its content, or ErrNotFound.
func (d *Dir) Latest() (Generation, error) {
	gens, err := d.Generations()
	if err != nil {
		return Generation{}, err
	}
	if len(gens) == 0 {
		return Generation{}, fmt.Errorf("no generation yet: %w", ErrNotFound)
	}
	return d.Generation(gens[len(gens)-1].Number)
}
