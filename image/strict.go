package image

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// unknownKeys reports every mapping key under n that the Go type t does
// not decode, at any depth (an npm entry's, a file's, a user's), with its
// position and the closest known key: yaml.v3 ignores such keys, so a
// misspelt option would otherwise be dropped without a word. p is the
// option path of n. Types that decode themselves are left to their own
// UnmarshalYAML.
func unknownKeys(p string, n *yaml.Node, t reflect.Type) []error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return nil
	}
	var errs []error
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a kind mismatch is Decode's to report
		}
		fields := yamlFields(t)
		known := make(map[string]bool, len(fields))
		for k := range fields {
			known[k] = true
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue // a merge key: its mapping is checked where it is defined
			}
			ft, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				if s := suggest(k.Value, known); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				errs = append(errs, &RecipeError{Path: p + "." + k.Value, Line: k.Line, Col: k.Column, Msg: msg})
				continue
			}
			errs = append(errs, unknownKeys(p+"."+k.Value, v, ft)...)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, e := range n.Content {
			errs = append(errs, unknownKeys(fmt.Sprintf("%s[%d]", p, i), e, t.Elem())...)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, unknownKeys(p+"."+n.Content[i].Value, n.Content[i+1], t.Elem())...)
		}
	}
	return errs
}

// yamlFields maps the keys a struct decodes to their types, following
// yaml.v3's rules: the tag's name, else the lowercased field name; "-"
// skipped; ",inline" structs merged.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
