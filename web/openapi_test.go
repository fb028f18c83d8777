package web_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// schema is the part of JSON Schema that openapi.json uses.
type schema struct {
	Ref        string             `json:"$ref"`
	Type       any                `json:"type"` // a name or a list of names
	Properties map[string]*schema `json:"properties"`
	Required   []string           `json:"required"`
	// Additional is false (no other properties) or a schema for them.
	Additional json.RawMessage `json:"additionalProperties"`
	Items      *schema         `json:"items"`
	Enum       []any           `json:"enum"`
	OneOf      []*schema       `json:"oneOf"`
}

type openAPI struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Responses   map[string]struct {
			Content map[string]struct {
				Schema *schema `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]*schema `json:"schemas"`
	} `json:"components"`
}

// validate checks v (decoded JSON) against s and returns every mismatch
// with its path.
func (doc *openAPI) validate(s *schema, v any, path string) []string {
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		ref, ok := doc.Components.Schemas[name]
		if !ok {
			return []string{path + ": unknown $ref " + s.Ref}
		}
		return doc.validate(ref, v, path)
	}
	if len(s.OneOf) > 0 {
		for _, o := range s.OneOf {
			if len(doc.validate(o, v, path)) == 0 {
				return nil
			}
		}
		return []string{fmt.Sprintf("%s: %v matches none of oneOf", path, v)}
	}
	var types []string
	switch t := s.Type.(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			types = append(types, x.(string))
		}
	}
	if len(types) > 0 && !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
		return []string{fmt.Sprintf("%s: %s, want %v", path, jsonType(v), types)}
	}
	if len(s.Enum) > 0 && !slices.Contains(s.Enum, v) {
		return []string{fmt.Sprintf("%s: %v is not one of %v", path, v, s.Enum)}
	}
	var errs []string
	switch x := v.(type) {
	case map[string]any:
		for _, r := range s.Required {
			if _, ok := x[r]; !ok {
				errs = append(errs, fmt.Sprintf("%s: lacks required %q", path, r))
			}
		}
		for k, val := range x {
			if p, ok := s.Properties[k]; ok {
				errs = append(errs, doc.validate(p, val, path+"."+k)...)
				continue
			}
			switch a := strings.TrimSpace(string(s.Additional)); {
			case a == "false":
				errs = append(errs, fmt.Sprintf("%s: property %q is not in the document", path, k))
			case strings.HasPrefix(a, "{"):
				var as schema
				if err := json.Unmarshal(s.Additional, &as); err == nil {
					errs = append(errs, doc.validate(&as, val, path+"."+k)...)
				}
			}
		}
	case []any:
		if s.Items != nil {
			for i, e := range x {
				errs = append(errs, doc.validate(s.Items, e, path+"["+strconv.Itoa(i)+"]")...)
			}
		}
	}
	return errs
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// TestOpenAPI checks real answers of the server against the schemas of
// /api/openapi.json: every property documented, every required one there.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t, false)
	_, body := e.do("GET", "/api/openapi.json", "bearer", nil, "")
	var doc openAPI
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	origin := map[string]string{"Origin": "http://" + e.host}
	stream := map[string]string{"Origin": "http://" + e.host, "Accept": "application/x-ndjson"}
	cases := []struct {
		method, path, route, body string
		header                    map[string]string
		status                    int
	}{
		{"POST", "/api/up", "/api/up", `{}`, origin, 200},
		{"POST", "/api/up", "/api/up", `{"targets":["wt-front"]}`, stream, 200},
		{"GET", "/api/status", "/api/status", "", nil, 200},
		{"GET", "/api/status?target=nosuch", "/api/status", "", nil, 400},
		{"GET", "/api/plan", "/api/plan", "", nil, 200},
		{"POST", "/api/stop", "/api/stop", `{"targets":["wt-back"]}`, origin, 200},
		{"GET", "/api/plan", "/api/plan", "", nil, 200}, // with a start to do
		{"POST", "/api/start", "/api/start", `{"targets":["wt-back"]}`, stream, 200},
		{"POST", "/api/restart", "/api/restart", `{"targets":["wt"]}`, origin, 200},
		{"POST", "/api/down", "/api/down", `{"targets":["wt-back"]}`, origin, 428},
		{"POST", "/api/down", "/api/down", `{"targets":["wt-back"],"confirm":"wt-back"}`, origin, 200},
		{"POST", "/api/up", "/api/up", `{}`, origin, 200},
		{"GET", "/api/generations", "/api/generations", "", nil, 200},
		{"GET", "/api/generations/1", "/api/generations/{n}", "", nil, 200},
		{"GET", "/api/generations/9", "/api/generations/{n}", "", nil, 404},
		{"GET", "/api/diff?from=1&to=1", "/api/diff", "", nil, 200},
		{"POST", "/api/rollback", "/api/rollback", `{"generation":1}`, origin, 428},
		{"POST", "/api/rollback", "/api/rollback", `{"generation":1,"confirm":"1"}`, origin, 200},
		{"GET", "/api/logs?target=wt-front&tail=5", "/api/logs", "", nil, 200},
		{"GET", "/api/gpus", "/api/gpus", "", nil, 200},
		{"GET", "/api/doctor", "/api/doctor", "", nil, 200},
		{"GET", "/api/images", "/api/images", "", nil, 200},
		{"GET", "/api/backups", "/api/backups", "", nil, 200},
		{"POST", "/api/backup", "/api/backup", `{}`, origin, 400},
		{"POST", "/api/restore", "/api/restore", `{"id":"latest"}`, origin, 428},
		{"POST", "/api/backups/verify", "/api/backups/verify", `{"id":"latest"}`, origin, 404},
		{"POST", "/api/images/build", "/api/images/build", `{"names":["nosuch"]}`, origin, 400},
		{"GET", "/api/chat/models", "/api/chat/models", "", nil, 200},
		{"POST", "/api/chat/nosuch/chat", "/api/chat/{container}/chat", `{}`, origin, 400},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		resp, body := e.do(c.method, c.path, "bearer", c.header, c.body)
		name := c.method + " " + c.path + " " + c.body
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s, want %d\n%s", name, resp.Status, c.status, body)
			continue
		}
		op, ok := doc.Paths[c.route][strings.ToLower(c.method)]
		if !ok {
			t.Errorf("%s: %s %s is not in the document", name, c.method, c.route)
			continue
		}
		covered[c.route] = true
		r, ok := op.Responses[strconv.Itoa(c.status)]
		if !ok {
			t.Errorf("%s: status %d is not documented", name, c.status)
			continue
		}
		ct := resp.Header.Get("Content-Type")
		media, ok := r.Content[ct]
		if !ok || media.Schema == nil {
			t.Errorf("%s: content type %q is not documented for %d", name, ct, c.status)
			continue
		}
		var values []string
		if ct == "application/x-ndjson" {
			values = strings.Split(strings.TrimSpace(body), "\n")
			if len(values) < 1 || values[0] == "" {
				t.Errorf("%s: an empty stream", name)
				continue
			}
		} else {
			values = []string{body}
		}
		for i, v := range values {
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				t.Errorf("%s: value %d is not JSON: %v", name, i, err)
				continue
			}
			for _, m := range doc.validate(media.Schema, x, "$") {
				t.Errorf("%s: %s", name, m)
			}
		}
	}
	for p, ops := range doc.Paths {
		for _, op := range ops {
			for code, r := range op.Responses {
				// Deleting a model needs an Ollama: the chat test covers it.
				if m, ok := r.Content["application/json"]; ok && m.Schema != nil && code == "200" && !covered[p] && op.OperationID != "deleteModel" {
					t.Errorf("%s (%s) answers JSON but no case checks it", p, op.OperationID)
				}
			}
		}
	}
}
