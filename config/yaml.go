package config

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// parse reads YAML into a node tree, expands Nix-style dotted keys and
// interpolates ${VAR} in scalar values. Problems are collected in c.
func parse(file string, data []byte, getenv func(string) string, c *errs) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlErrorLine(err)
		c.add(Pos{File: file, Line: line, Column: 1}, "", "check the indentation and quoting near this line", "%s", msg)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		// An empty file is a valid, empty config.
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		c.add(pos(file, root), "", "berth.yaml is a mapping of kits and settings, e.g. 'ml: {enable: true}'", "top level must be a mapping, got %s", kindName(root))
		return nil
	}
	p := &parser{file: file, getenv: getenv, c: c}
	p.resolveAliases(root, 0)
	return p.normalize(root, "")
}

// yamlErrorLine pulls the line number out of a yaml.v3 error message.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		if i := strings.Index(msg, ":"); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
		return line, msg
	}
	return 0, msg
}

type parser struct {
	visited int // nodes visited while expanding aliases
	file    string
	getenv  func(string) string
	c       *errs
}

const controlHint = "control characters (newlines, tabs, escape sequences) are not allowed in values that reach an engine, a unit file, a shell or a terminal; remove it"

// checkControl refuses a scalar holding a control character. Such values
// end up in engine requests, systemd unit files, shell aliases and
// terminal output, where a newline starts a new directive or command and
// an escape sequence rewrites the screen. File contents of image recipes
// are the one place that holds text of any kind.
func (p *parser) checkControl(n *yaml.Node, path string) {
	if strings.HasPrefix(path, "images.") && lastSegment(path) == "content" {
		return
	}
	if r, ok := controlChar(n.Value); ok {
		p.c.add(pos(p.file, n), path, controlHint, "value %q contains the control character %U", n.Value, r)
		p.c.bad(n)
	}
}

// controlChar returns the first control character of s: C0, DEL, C1 and
// the Unicode bidirectional overrides that make a terminal show text in
// another order than it runs.
func controlChar(s string) (rune, bool) {
	if !utf8.ValidString(s) {
		// Only an interpolated variable can bring invalid UTF-8 in.
		return utf8.RuneError, true
	}
	for _, r := range s {
		if unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return r, true
		}
	}
	return 0, false
}

func pos(file string, n *yaml.Node) Pos {
	return Pos{File: file, Line: n.Line, Column: n.Column}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "an unknown node"
}

// maxAliasDepth bounds alias expansion, so a hostile file of nested aliases
// (a "billion laughs") cannot blow up memory.
const maxAliasDepth = 16

// maxNodes bounds the size of the expanded document: aliases of aliases
// grow exponentially even when each is shallow.
const maxNodes = 100000

// resolveAliases replaces alias nodes by copies of what they point to.
func (p *parser) resolveAliases(n *yaml.Node, depth int) {
	p.visited++
	if p.visited > maxNodes {
		if p.visited == maxNodes+1 {
			p.c.add(pos(p.file, n), "", "flatten the anchors and aliases", "config expands to more than %d values", maxNodes)
		}
		n.Content = nil
		return
	}
	if depth > maxAliasDepth {
		p.c.add(pos(p.file, n), "", "flatten the anchors and aliases", "aliases nested too deeply")
		n.Kind, n.Tag, n.Value, n.Content, n.Alias = yaml.ScalarNode, "!!null", "", nil, nil
		return
	}
	for i, ch := range n.Content {
		if ch.Kind == yaml.AliasNode && ch.Alias != nil {
			cp := *ch.Alias
			cp.Line, cp.Column = ch.Line, ch.Column
			cp.Anchor = ""
			cp.Content = append([]*yaml.Node(nil), ch.Alias.Content...)
			n.Content[i] = &cp
			p.resolveAliases(&cp, depth+1)
			continue
		}
		p.resolveAliases(ch, depth)
	}
}

// literalMaps are option keys whose mapping values are data, not options:
// their keys are never split on dots.
var literalMaps = map[string]bool{"env": true, "labels": true, "images": true, "stacks": true}

// normalize returns n with dotted mapping keys expanded into nested mappings
// (comfyui.enable: true → comfyui: {enable: true}) and mappings with the
// same key merged, and ${VAR} interpolated in scalars. path is the option
// path of n, for messages.
func (p *parser) normalize(n *yaml.Node, path string) *yaml.Node {
	switch n.Kind {
	case yaml.ScalarNode:
		p.interpolate(n, path)
		p.checkControl(n, path)
		return n
	case yaml.SequenceNode:
		for i, ch := range n.Content {
			n.Content[i] = p.normalize(ch, fmt.Sprintf("%s[%d]", path, i))
		}
		return n
	case yaml.MappingNode:
	default:
		return n
	}
	literal := literalMaps[lastSegment(path)]
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	seen := map[string]*yaml.Node{} // key → key node, for duplicates
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.c.add(pos(p.file, k), path, "", "keys must be plain names")
			continue
		}
		if r, ok := controlChar(k.Value); ok {
			// The key itself is left out of the path: printing it would
			// send the control character to the terminal.
			p.c.add(pos(p.file, k), path, controlHint, "key %q contains the control character %U", k.Value, r)
			continue
		}
		segs := []string{k.Value}
		if !literal && strings.Contains(k.Value, ".") {
			segs = strings.Split(k.Value, ".")
			bad := false
			for _, s := range segs {
				if s == "" {
					bad = true
				}
			}
			if bad {
				p.c.add(pos(p.file, k), join(path, k.Value), "write dotted keys as a.b.c", "empty segment in dotted key %q", k.Value)
				continue
			}
		}
		// Build the nested value for the dotted key from the inside out.
		val := v
		for j := len(segs) - 1; j >= 1; j-- {
			kn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: segs[j], Line: k.Line, Column: k.Column}
			val = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column, Content: []*yaml.Node{kn, val}}
		}
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: segs[0], Line: k.Line, Column: k.Column}
		p.merge(out, seen, key, val, path)
	}
	for i := 0; i+1 < len(out.Content); i += 2 {
		out.Content[i+1] = p.normalize(out.Content[i+1], join(path, out.Content[i].Value))
	}
	return out
}

// merge adds key: val to the mapping out. When key is already there and
// both values are mappings (ollama.port: 1 next to ollama: {enable: true}),
// they are merged; otherwise the key is a duplicate.
func (p *parser) merge(out *yaml.Node, seen map[string]*yaml.Node, key, val *yaml.Node, path string) {
	prev, ok := seen[key.Value]
	if !ok {
		seen[key.Value] = key
		out.Content = append(out.Content, key, val)
		return
	}
	var prevVal *yaml.Node
	for i := 0; i+1 < len(out.Content); i += 2 {
		if out.Content[i] == prev {
			prevVal = out.Content[i+1]
		}
	}
	if prevVal != nil && prevVal.Kind == yaml.MappingNode && val.Kind == yaml.MappingNode {
		inner := map[string]*yaml.Node{}
		for i := 0; i+1 < len(prevVal.Content); i += 2 {
			inner[prevVal.Content[i].Value] = prevVal.Content[i]
		}
		for i := 0; i+1 < len(val.Content); i += 2 {
			p.merge(prevVal, inner, val.Content[i], val.Content[i+1], join(path, key.Value))
		}
		return
	}
	p.c.add(pos(p.file, key), join(path, key.Value), fmt.Sprintf("it is first set at line %d", prev.Line), "duplicate key %q", key.Value)
}

// interpolate replaces ${VAR} and ${VAR:-default} in a scalar. $$ is a
// literal dollar sign.
func (p *parser) interpolate(n *yaml.Node, path string) {
	s := n.Value
	if !strings.Contains(s, "$") {
		return
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			p.c.add(pos(p.file, n), path, "close it with '}', or write $$ for a literal $", "unterminated ${ in %q", s)
			p.c.bad(n)
			return
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			p.c.add(pos(p.file, n), path, "variable names are letters, digits and _, not starting with a digit", "bad variable name %q in ${%s}", name, expr)
			p.c.bad(n)
			return
		}
		val := p.getenv(name)
		if val == "" {
			if !hasDef {
				p.c.add(pos(p.file, n), path, fmt.Sprintf("export %s, or give a default: ${%s:-value}", name, name), "environment variable %s is not set", name)
				p.c.bad(n)
				return
			}
			val = def
		}
		b.WriteString(val)
		i += end
	}
	n.Value = b.String()
	// A substituted value is typed by its content, as if written literally.
	if n.Style == 0 {
		n.Tag = ""
		var probe yaml.Node
		if yaml.Unmarshal([]byte(n.Value), &probe) == nil && len(probe.Content) == 1 && probe.Content[0].Kind == yaml.ScalarNode {
			n.Tag = probe.Content[0].Tag
		} else {
			n.Tag = "!!str"
		}
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func lastSegment(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}
