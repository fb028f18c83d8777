package compose

import (
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/config"
)

// positions finds where a field was written. compose-go's model has no
// line numbers, so the files are parsed a second time as YAML nodes and
// searched: the last file that sets a field wins (as in the merge), a key
// inside a "<<: *anchor" is found at the anchor, and a service's field it
// got through extends is found in the service it extends.
type positions struct {
	files []rawFile
	cache map[string]*rawFile
}

type rawFile struct {
	name string // as the user gave it, for messages
	path string // absolute
	root *yaml.Node
}

func newPositions(names []string, dir string) *positions {
	p := &positions{cache: map[string]*rawFile{}}
	for _, n := range names {
		if f := p.load(n, absIn(dir, n)); f != nil {
			p.files = append(p.files, *f)
		}
	}
	return p
}

func absIn(dir, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

func (p *positions) load(name, path string) *rawFile {
	if f, ok := p.cache[path]; ok {
		return f
	}
	var f *rawFile
	if data, err := os.ReadFile(path); err == nil {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) == 1 {
			f = &rawFile{name: name, path: path, root: doc.Content[0]}
		}
	}
	p.cache[path] = f
	return f
}

// at returns the position of the key at path (top-level keys first, e.g.
// "services", "web", "ports"), or of the deepest part of it found; the
// first file's start when nothing is found.
func (p *positions) at(path ...string) config.Pos {
	best, bestDepth := config.Pos{}, -1
	for i := len(p.files) - 1; i >= 0; i-- {
		f := &p.files[i]
		pos, depth := p.find(f, f.root, path, 0)
		if depth == len(path) {
			return pos
		}
		if depth > bestDepth {
			best, bestDepth = pos, depth
		}
	}
	if bestDepth < 0 && len(p.files) > 0 {
		return config.Pos{File: p.files[0].name, Line: 1, Column: 1}
	}
	return best
}

// first returns where path is first written, in file order: where a
// service is defined rather than where a later file overrides it.
func (p *positions) first(path ...string) config.Pos {
	for i := range p.files {
		f := &p.files[i]
		if pos, depth := p.find(f, f.root, path, 0); depth == len(path) {
			return pos
		}
	}
	return p.at(path...)
}

// find walks path from n; it returns the position of the last key found
// and how many keys were.
func (p *positions) find(f *rawFile, n *yaml.Node, path []string, guard int) (config.Pos, int) {
	if guard > 8 || n == nil {
		return config.Pos{}, -1
	}
	n = deref(n)
	if len(path) == 0 || n.Kind != yaml.MappingNode {
		return config.Pos{}, 0
	}
	if k, v := lookup(n, path[0]); k != nil {
		here := config.Pos{File: f.name, Line: k.Line, Column: k.Column}
		pos, depth := p.find(f, v, path[1:], guard)
		if depth > 0 {
			return pos, depth + 1
		}
		return here, 1
	}
	// services.<name>.<field> that came through extends.
	if len(path) >= 1 {
		if _, ext := lookup(n, "extends"); ext != nil {
			ext = deref(ext)
			svc, file := "", f
			switch ext.Kind {
			case yaml.ScalarNode:
				svc = ext.Value
			case yaml.MappingNode:
				if _, s := lookup(ext, "service"); s != nil {
					svc = s.Value
				}
				if _, fn := lookup(ext, "file"); fn != nil {
					if other := p.load(fn.Value, absIn(filepath.Dir(f.path), fn.Value)); other != nil {
						file = other
					}
				}
			}
			if svc != "" {
				if _, services := lookup(file.root, "services"); services != nil {
					if _, base := lookup(deref(services), svc); base != nil {
						pos, depth := p.find(file, base, path, guard+1)
						if depth > 0 {
							return pos, depth
						}
					}
				}
			}
		}
	}
	return config.Pos{}, 0
}

// lookup returns the key and value nodes of key in mapping n, looking
// into "<<" merges.
func lookup(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == key && k.Tag != "!!merge" {
			return k, v
		}
		if k.Value == "<<" {
			v = deref(v)
			if v.Kind == yaml.SequenceNode {
				merges = append(merges, v.Content...)
			} else {
				merges = append(merges, v)
			}
		}
	}
	for _, m := range merges {
		if k, v := lookup(m, key); k != nil {
			return k, v
		}
	}
	return nil, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return n.Content[0]
	}
	return n
}
