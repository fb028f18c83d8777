package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1"
)

// Store keeps built images in a directory: <name>.tar (the OCI layout
// tarball) and <name>.json (its Record).
type Store struct {
	Dir string
}

// Record describes a stored image.
type Record struct {
	Name     string      `json:"name"`
	Ref      string      `json:"ref"`
	Digest   string      `json:"digest"`
	Size     int64       `json:"size"`
	Tarball  string      `json:"tarball"`
	Packages int         `json:"packages"`
	Layers   []LayerInfo `json:"layers"`
}

// ErrNotBuilt is returned for an image that has not been built yet.
var ErrNotBuilt = errors.New("not built")

// RecordOf describes a built image that no store holds (no Tarball).
func RecordOf(res *Result) Record {
	return Record{Name: res.Name, Ref: res.Ref, Digest: res.Digest.String(), Size: res.Size, Packages: len(res.Lock.Packages), Layers: res.Layers}
}

// Save writes a built image's tarball and record.
func (s *Store) Save(res *Result) (Record, error) {
	rec := RecordOf(res)
	rec.Tarball = filepath.Join(s.Dir, res.Name+".tar")
	if err := WriteTarballFile(rec.Tarball, res.Image, res.Ref); err != nil {
		return rec, err
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(s.Dir, res.Name+".json"), append(b, '\n'), 0o644); err != nil {
		return rec, fmt.Errorf("recording %s: %w", res.Name, err)
	}
	return rec, nil
}

// Record returns the record of a stored image.
func (s *Store) Record(name string) (Record, error) {
	var rec Record
	b, err := os.ReadFile(filepath.Join(s.Dir, name+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return rec, fmt.Errorf("image %s: %w", name, ErrNotBuilt)
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("reading record of %s: %w", name, err)
	}
	return rec, nil
}

// Records lists every stored image, by name.
func (s *Store) Records() ([]Record, error) {
	files, err := filepath.Glob(filepath.Join(s.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, f := range files {
		rec, err := s.Record(strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			continue
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Image reads a stored image back.
func (s *Store) Image(name string) (v1.Image, Record, error) {
	rec, err := s.Record(name)
	if err != nil {
		return nil, rec, err
	}
	img, err := ReadTarball(rec.Tarball)
	if err != nil {
		return nil, rec, err
	}
	if d, _ := img.Digest(); d.String() != rec.Digest {
		return nil, rec, fmt.Errorf("verifying %s: the tarball holds %s, the record says %s", name, d, rec.Digest)
	}
	return img, rec, nil
}
