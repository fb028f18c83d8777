package config

import (
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/kits"
)

// Schema returns a JSON Schema (draft 2020-12) of berth.yaml, built from
// the option registry, for yaml-language-server and other editors.
func Schema() map[string]any {
	kitProps := func(k *kits.Kit) map[string]any {
		props := map[string]any{
			"enable":      optSchema(Option{Type: "bool", Description: "run this kit's services", Default: "true"}),
			"description": map[string]any{"type": "string"},
			"network":     networkSchema(k),
		}
		if k != nil {
			for _, s := range k.Services {
				props[s.Name] = serviceSchema(k, s)
			}
		}
		return props
	}
	dotted := map[string]any{"^[^.]+\\..+$": map[string]any{"description": "a dotted key, as in Nix: comfyui.enable: true"}}

	props := map[string]any{}
	for _, o := range globalOptions {
		name, _, _ := strings.Cut(o.Path, ".")
		switch name {
		case "stacks":
			props[name] = map[string]any{
				"type": "object", "description": o.Description,
				"additionalProperties": map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": "^[a-z][a-z0-9-]*/[a-z][a-z0-9-]*$"}},
			}
		case "images":
			props[name] = map[string]any{"type": "object", "description": o.Description, "additionalProperties": map[string]any{"type": "object"}}
		default:
			props[name] = optSchema(o)
		}
	}
	for _, k := range kits.All() {
		props[k.Name] = map[string]any{
			"type": "object", "description": k.Description,
			"properties": kitProps(k), "patternProperties": dotted,
			"additionalProperties": serviceSchema(nil, nil),
		}
	}
	return map[string]any{
		"$schema":           "https://json-schema.org/draft/2020-12/schema",
		"$id":               "https://github.com/voidnxlabs/berth/berth.schema.json",
		"title":             "berth.yaml",
		"description":       "berth: kits of containers on private networks. Keys not listed here are kits of your own.",
		"type":              "object",
		"properties":        props,
		"patternProperties": dotted,
		"additionalProperties": map[string]any{
			"type": "object", "description": "a kit of your own: network plus services",
			"properties": kitProps(nil), "patternProperties": dotted,
			"additionalProperties": serviceSchema(nil, nil),
		},
	}
}

func networkSchema(k *kits.Kit) map[string]any {
	subnet := Option{Type: "cidr", Description: "the kit's private IPv4 network"}
	host := Option{Type: "ip", Description: "the host's address on the kit network (gateway)"}
	if k != nil {
		subnet.Default, host.Default = k.Subnet.String(), k.Host.String()
	}
	return map[string]any{
		"type": "object", "additionalProperties": false,
		"properties": map[string]any{"subnet": optSchema(subnet), "host": optSchema(host)},
	}
}

// serviceSchema is the schema of one service: the common options, with a
// catalog service's defaults and own options when cs is set.
func serviceSchema(k *kits.Kit, cs *kits.Service) map[string]any {
	props := map[string]any{}
	nested := map[string]map[string]any{}
	for _, o := range serviceOptions {
		name, sub, isNested := strings.Cut(o.Path, ".")
		if isNested {
			if nested[name] == nil {
				nested[name] = map[string]any{}
			}
			nested[name][sub] = optSchema(o)
			continue
		}
		props[name] = optSchema(o)
	}
	for name, p := range nested {
		props[name] = map[string]any{"type": "object", "properties": p, "additionalProperties": false}
	}
	desc := "a service of your own (image is required)"
	var required []string
	if cs != nil {
		desc = cs.Description
		for _, o := range catalogOptions(k, cs) {
			name := o.Path[strings.LastIndexByte(o.Path, '.')+1:]
			props[name] = optSchema(o)
		}
		if cs.Ports[0].Option != "port" {
			delete(props, "port")
		}
	} else {
		required = []string{"image"}
	}
	out := map[string]any{
		"description": desc,
		"anyOf": []any{
			map[string]any{"type": "null"},
			map[string]any{"type": "boolean"},
			map[string]any{"type": "object", "properties": props, "additionalProperties": false},
		},
	}
	if len(required) > 0 {
		out["anyOf"].([]any)[2].(map[string]any)["required"] = required
	}
	return out
}

func optSchema(o Option) map[string]any {
	s := map[string]any{"description": o.Description}
	switch o.Type {
	case "bool":
		s["type"] = "boolean"
	case "int":
		s["type"] = "integer"
		s["minimum"] = 1
	case "number":
		s["type"] = "number"
		s["exclusiveMinimum"] = 0
	case "port":
		s["type"] = "integer"
		s["minimum"], s["maximum"] = 1, 65535
	case "enum":
		s["enum"] = o.Enum
	case "ip":
		s["type"], s["format"] = "string", "ipv4"
	case "cidr":
		s["type"] = "string"
		s["pattern"] = `^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$`
	case "path":
		s["type"], s["pattern"] = "string", "^/"
	case "list":
		s["type"], s["items"] = "array", map[string]any{"type": "string"}
	case "map":
		s["type"] = "object"
		s["additionalProperties"] = map[string]any{"type": []string{"string", "number", "boolean"}}
	case "command":
		s["type"] = []string{"string", "array"}
		s["items"] = map[string]any{"type": "string"}
	case "mounts":
		s["type"] = "array"
		s["items"] = map[string]any{"anyOf": []any{
			map[string]any{"type": "string", "pattern": "^(/[^:]*|[A-Za-z0-9][A-Za-z0-9_.-]*):/[^:]*(:(ro|rw))?$"},
			map[string]any{"type": "object", "properties": map[string]any{
				"source": map[string]any{"type": "string"}, "volume": map[string]any{"type": "string"},
				"target": map[string]any{"type": "string"}, "readOnly": map[string]any{"type": "boolean"},
			}, "required": []string{"target"}},
		}}
	case "gpu":
		s["anyOf"] = []any{
			map[string]any{"enum": []string{"all", "none"}},
			map[string]any{"type": "integer", "minimum": 1},
			map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			map[string]any{"type": "object", "properties": map[string]any{
				"devices":      map[string]any{},
				"vendor":       map[string]any{"enum": []string{"nvidia", "amd", "intel"}},
				"capabilities": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
				"mode":         map[string]any{"enum": []string{"auto", "cdi", "nvidia-runtime", "devices"}},
				"optional":     map[string]any{"type": "boolean"},
			}, "additionalProperties": false},
		}
	case "deps":
		s["anyOf"] = []any{
			map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			map[string]any{"type": "object", "additionalProperties": map[string]any{"enum": []string{"started", "healthy"}}},
		}
	case "publish":
		s["anyOf"] = []any{
			map[string]any{"type": "string", "format": "ipv4"},
			map[string]any{"type": "boolean"},
			map[string]any{"type": "array", "items": map[string]any{"type": []string{"string", "integer"}}},
		}
	default:
		s["type"] = "string"
	}
	if o.Default != "" {
		switch o.Type {
		case "bool":
			s["default"] = o.Default == "true"
		case "port", "int":
			if n, err := strconv.Atoi(o.Default); err == nil {
				s["default"] = n
			}
		default:
			s["default"] = o.Default
		}
	}
	if o.Example != "" {
		s["examples"] = []string{o.Example}
	}
	return s
}
