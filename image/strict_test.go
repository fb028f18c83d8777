package image

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestNestedUnknownKeys: a misspelt key is refused at every depth of a
// recipe, with its position and path, not dropped by the decoder.
func TestNestedUnknownKeys(t *testing.T) {
	src := `
app:
  suite: bookworm
  packages: [hello]
  npm:
    - {package: "x@1", linkz: []}
  files:
    - {path: /a, content: b, moed: "0644"}
  go:
    - package: example.com/x@v1.0.0
      headers:
        - {module: "a@v1", file: x.h, ass: y.h}
  python:
    requirements: [six]
    targte: /opt/py
  users:
    - {name: u, uid: 5}
  env: {A: b}
`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeRecipes(doc.Content[0])
	if err == nil {
		t.Fatal("a recipe with misspelt nested keys was accepted")
	}
	for _, want := range []string{
		"6:24: images.app.npm[0].linkz: unknown key",
		`8:30: images.app.files[0].moed: unknown key (did you mean "mode"?)`,
		`12:39: images.app.go[0].headers[0].ass: unknown key (did you mean "as"?)`,
		`15:5: images.app.python.targte: unknown key (did you mean "target"?)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "unknown key"); n != 4 {
		t.Errorf("%d unknown keys reported, want 4:\n%v", n, err)
	}
}
