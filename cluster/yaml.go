package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML encodes the manifest as one multi-document YAML stream in apply
// order. Map keys are sorted, so equal manifests give equal bytes.
func (m *Manifest) YAML() ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range m.Objects {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := o.YAML()
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// YAML encodes one object.
func (o Object) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(map[string]any(o)); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", o.Ref(), err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", o.Ref(), err)
	}
	return buf.Bytes(), nil
}

// FileName is the name WriteDir gives the object at index i: the index
// first, so that `kubectl apply -f DIR` keeps berth's apply order.
func (m *Manifest) FileName(i int) string {
	o := m.Objects[i]
	return fmt.Sprintf("%02d-%s-%s.yaml", i, strings.ToLower(o.Kind()), o.Name())
}

// WriteDir writes one file per object into dir, creating it, and returns
// the paths written. Files of an earlier render that are not rewritten are
// left alone.
func (m *Manifest) WriteDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("writing manifests: %w", err)
	}
	var out []string
	for i, o := range m.Objects {
		b, err := o.YAML()
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, m.FileName(i))
		// Secrets may hold credentials: private to the user.
		mode := os.FileMode(0o644)
		if o.Kind() == "Secret" {
			mode = 0o600
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			return nil, fmt.Errorf("writing manifests: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
