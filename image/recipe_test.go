package image

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func decode(t *testing.T, src string) (map[string]Recipe, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	// As config hands it over: the node under "images:".
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "images" {
			return DecodeRecipes(root.Content[i+1])
		}
	}
	t.Fatal("no images key")
	return nil, nil
}

func TestDecodeRecipes(t *testing.T) {
	rs, err := decode(t, `
images:
  redis:
    suite: bookworm
    packages: [redis-server]
    entrypoint: [/usr/bin/redis-server]
    user: redis
    users: [{name: redis, uid: 999}]
    dirs: [{path: /data, owner: redis, mode: "0750"}]
    ports: [6379, 53/udp]
`)
	if err != nil {
		t.Fatal(err)
	}
	r := rs["redis"]
	if r.Name != "redis" || r.Suite != "bookworm" || r.Dirs[0].Mode != 0o750 || r.Ports[0] != "6379/tcp" || r.Ports[1] != "53/udp" {
		t.Errorf("decoded %+v", r)
	}
}

func TestDecodeRecipesErrors(t *testing.T) {
	_, err := decode(t, `
images:
  redis:
    suite: bookworm
    pakages: [redis-server]
    ports: [http]
  Bad_Name:
    suite: bookworm
  web:
    packages: nginx
    dirs: [{path: data, mode: "999"}]
  empty:
    suite: bookworm
    workdir: relative
`)
	if err == nil {
		t.Fatal("no error")
	}
	want := `5:5: images.redis.pakages: unknown key (did you mean "packages"?)
6:13: images.redis.ports: port "http" is not a port number such as 6379 or 53/udp
7:3: images.Bad_Name: an image name is lowercase letters, digits and . _ -
10:15: images.web.packages: cannot unmarshal a string ` + "`nginx`" + ` into []string
11:31: images.web.dirs: mode "999" is not an octal permission such as 0755
13:5: images.empty.packages: the recipe installs nothing: give packages, go programs or files
14:14: images.empty.workdir: "relative" is not an absolute path`
	if got := err.Error(); got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
}

func TestBuiltin(t *testing.T) {
	rs := Builtin()
	for _, n := range []string{"redis", "postgres-dev", "nginx-proxy", "python-ml", "nodejs-dev", "go-dev", "app", "ollama", "cuda-runtime"} {
		r, ok := rs[n]
		if !ok {
			t.Errorf("no built-in recipe %s", n)
			continue
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", n, err)
		}
		if r.Description == "" || strings.Contains(r.Description, "TODO") {
			t.Errorf("%s: no description", n)
		}
	}
}
