package image

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/image/deb"
)

func TestPyVersions(t *testing.T) {
	order := []string{"1.0.dev1", "1.0a1", "1.0a2.dev1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0+local", "1.0.post1", "1.0.1", "1.1", "2!0.1"}
	for i := 0; i+1 < len(order); i++ {
		a, err := parsePyVersion(order[i])
		if err != nil {
			t.Fatal(err)
		}
		b, err := parsePyVersion(order[i+1])
		if err != nil {
			t.Fatal(err)
		}
		if comparePy(a, b) >= 0 {
			t.Errorf("%s should sort before %s", order[i], order[i+1])
		}
	}
	for _, c := range []struct {
		spec, v string
		want    bool
	}{
		{">=4,<5", "4.6.6", true}, {">=4,<5", "5.0", false}, {">=4,<5", "5.0a1", false},
		{"~=2.2", "2.9", true}, {"~=2.2", "3.0", false}, {"~=1.4.5", "1.4.9", true}, {"~=1.4.5", "1.5.0", false},
		{"==3.*", "3.11.2", true}, {"==3.*", "4.0", false}, {"!=1.5.*", "1.5.2", false}, {"!=1.5.*", "1.6", true},
		{"==1.0", "1.0+cpu", true}, {"==1.0+cpu", "1.0", false}, {">1.0", "1.0.post1", false}, {"<2", "2.0rc1", false},
		{">=3.9", "3.11.2", true}, {">=3.12", "3.11.2", false}, {"!=3.0.*,>=2.7", "3.11.2", true},
	} {
		sp, err := parsePySpecifier(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := parsePyVersion(c.v)
		if got := sp.contains(v); got != c.want {
			t.Errorf("%s contains %s = %v, want %v", c.spec, c.v, got, c.want)
		}
	}
}

func TestPyMarkersAndRequirements(t *testing.T) {
	env := pyEnv{pythonVersion: "3.11", pythonFull: "3.11.2"}
	for m, want := range map[string]bool{
		`python_version >= "3.8"`:                                           true,
		`python_version < "3.10"`:                                           false,
		`sys_platform == "win32" or platform_system == "Linux"`:             true,
		`platform_machine == "x86_64" and (os_name == "nt" or extra == "")`: true,
		`extra == "test"`:                                                   false,
		`implementation_name != "pypy" and python_full_version >= '3.11.1'`: true,
		`"linux" in sys_platform`:                                           true,
	} {
		got, err := evalMarker(m, env)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", m, got, err, want)
		}
	}
	env.extra = "test"
	if ok, _ := evalMarker(`extra == "Test"`, env); !ok {
		t.Error("extras compare normalised")
	}
	q, err := parsePyReq(`Jupyter_Server[Test, docs] (>=2.4,<3) ; python_version >= "3.8"`)
	if err != nil || q.Name != "jupyter-server" || strings.Join(q.Extras, ",") != "test,docs" || q.Spec.String() != ">=2.4,<3" {
		t.Errorf("parsed %+v, %v", q, err)
	}
	if _, err := parsePyReq("foo @ https://example.com/foo.whl"); err == nil {
		t.Error("a direct URL was accepted")
	}
	reqs, err := parseRequirementsTxt("# comment\njupyterlab>=4 # lab\n\nnumpy \\\n  ==2.1\n")
	if err != nil || strings.Join(reqs, "|") != "jupyterlab>=4|numpy ==2.1" {
		t.Errorf("requirements.txt: %q, %v", reqs, err)
	}
	if _, err := parseRequirementsTxt("--index-url https://elsewhere\nfoo\n"); err == nil {
		t.Error("an index option was accepted")
	}
	deps, err := parsePyproject("[build-system]\nrequires = [\"x\"]\n[project]\nname = \"p\"\ndependencies = [\n  \"numpy>=2\",  # arrays\n  \"pandas\",\n]\n[tool.x]\n")
	if err != nil || strings.Join(deps, "|") != "numpy>=2|pandas" {
		t.Errorf("pyproject: %q, %v", deps, err)
	}
}

func TestWheelTags(t *testing.T) {
	tags := newPyTags("3.11", [2]int{2, 36})
	better := []string{
		"pyzmq-27-cp311-cp311-manylinux_2_28_x86_64.whl",
		"pyzmq-27-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
		"x-1-cp39-abi3-manylinux_2_17_x86_64.whl",
		"x-1-py3-none-manylinux_2_17_x86_64.whl",
		"x-1-py2.py3-none-any.whl",
	}
	prev := -1
	for _, f := range better {
		r, ok := tags.rank(f)
		if !ok || r <= prev {
			t.Errorf("%s: rank %d (ok %v), want above %d", f, r, ok, prev)
		}
		prev = r
	}
	for _, f := range []string{
		"x-1-cp312-cp312-manylinux_2_17_x86_64.whl", "x-1-cp311-cp311-manylinux_2_39_x86_64.whl",
		"x-1-cp311-cp311-musllinux_1_2_x86_64.whl", "x-1-cp311-cp311-win_amd64.whl",
		"x-1-cp311-cp311-manylinux_2_17_aarch64.whl", "x-1-cp313-abi3-manylinux_2_17_x86_64.whl", "x-1-py2-none-any.whl",
	} {
		if _, ok := tags.rank(f); ok {
			t.Errorf("%s fits Python 3.11 on glibc 2.36 x86_64", f)
		}
	}
}

// wheel makes a wheel file with the given members.
func wheel(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range sortedKeys(files) {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate}
		if strings.Contains(n, "/scripts/") || strings.HasSuffix(n, ".so") {
			h.SetMode(0o755)
		} else {
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[n]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakePyPI serves a JSON API and the files of a few projects.
type fakePyPI struct {
	srv   *httptest.Server
	files map[string][]byte
	// projects: name → version → (filename, metadata)
	projects map[string]map[string][2]string
}

func newFakePyPI(t *testing.T) *fakePyPI {
	f := &fakePyPI{files: map[string][]byte{}, projects: map[string]map[string][2]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if data, ok := f.files[strings.TrimPrefix(r.URL.Path, "/files/")]; ok {
			w.Write(data)
			return
		}
		var name string
		if _, err := fmt.Sscanf(strings.ReplaceAll(r.URL.Path, "/", " "), " pypi %s json", &name); err != nil || f.projects[name] == nil {
			http.NotFound(w, r)
			return
		}
		rels := map[string][]map[string]any{}
		for v, fm := range f.projects[name] {
			data := f.files[fm[0]]
			sum := sha256.Sum256(data)
			rels[v] = append(rels[v], map[string]any{"filename": fm[0], "url": "../../files/" + fm[0], "size": len(data),
				"packagetype": "bdist_wheel", "requires_python": ">=3.8", "yanked": false, "digests": map[string]string{"sha256": hex.EncodeToString(sum[:])}})
		}
		json.NewEncoder(w).Encode(map[string]any{"info": map[string]string{"name": name}, "releases": rels})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePyPI) add(t *testing.T, name, version, tag string, requires []string, extra map[string]string) {
	dist := strings.ReplaceAll(name, "-", "_") + "-" + version
	meta := "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"
	for _, r := range requires {
		meta += "Requires-Dist: " + r + "\n"
	}
	files := map[string]string{dist + ".dist-info/METADATA": meta + "\nlong description\nRequires-Dist: not-a-header\n", dist + ".dist-info/RECORD": "stale"}
	for k, v := range extra {
		files[strings.ReplaceAll(k, "DIST", dist)] = v
	}
	fn := dist + "-" + tag + ".whl"
	f.files[fn] = wheel(t, files)
	if f.projects[name] == nil {
		f.projects[name] = map[string][2]string{}
	}
	f.projects[name][version] = [2]string{fn, meta}
}

// TestPythonRecipe resolves against a PyPI that serves a small graph
// (markers, extras, a pre-release, an incompatible newest wheel), builds
// the image twice from one lock (same digest), checks what the layer holds,
// and refuses a build whose wheel does not match the lock.
func TestPythonRecipe(t *testing.T) {
	pypi := newFakePyPI(t)
	pypi.add(t, "app", "1.0", "py3-none-any", []string{"lib>=2", `winonly; sys_platform == "win32"`, `plug; extra == "plugins"`}, map[string]string{
		"app/__init__.py":                 "def main():\n    print('app')\n",
		"DIST.dist-info/entry_points.txt": "[console_scripts]\napp = app:main\n[other]\nx = y:z\n",
		"DIST.data/scripts/app-legacy":    "#!python\nprint('legacy')\n",
		"DIST.data/data/share/app/readme": "data file",
	})
	pypi.add(t, "lib", "2.1", "cp311-cp311-manylinux_2_17_x86_64", nil, map[string]string{"lib/_native.so": "ELF"})
	pypi.add(t, "lib", "2.2", "cp312-cp312-manylinux_2_17_x86_64", nil, nil) // not for 3.11
	pypi.add(t, "lib", "2.3", "cp311-cp311-manylinux_2_17_x86_64", nil, nil)
	pypi.add(t, "lib", "3.0rc1", "py3-none-any", nil, nil) // a pre-release
	pypi.add(t, "plug", "0.5", "py3-none-any", []string{"lib<2.2"}, map[string]string{"plug.py": ""})
	pypi.add(t, "winonly", "1.0", "py3-none-any", nil, nil)

	cache := t.TempDir()
	b, err := NewBuilder(Options{CacheDir: cache, LockDir: t.TempDir(), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := Recipe{Name: "pyapp", Python: &Python{Version: "3.11", Index: pypi.srv.URL, Requirements: []string{"app[plugins]==1.0"}}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	lock := &Lock{Recipe: r.Name}
	if err := b.resolvePython(t.Context(), r, lock); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range lock.Python.Files {
		got = append(got, f.Name+"=="+f.Version)
		if len(f.SHA256) != 64 || !strings.HasPrefix(f.URL, pypi.srv.URL+"/files/") {
			t.Errorf("%s: sha256 %q, url %q", f.Name, f.SHA256, f.URL)
		}
	}
	if strings.Join(got, " ") != "app==1.0 lib==2.1 plug==0.5" {
		t.Fatalf("resolved %v, want app 1.0, lib 2.1 (the newest for cp311), plug 0.5; no winonly", got)
	}

	epoch := time.Unix(1700000000, 0).UTC()
	build := func() (*fileSet, []byte) {
		fs, err := b.buildPython(t.Context(), r, lock, epoch)
		if err != nil {
			t.Fatal(err)
		}
		l, err := newLayer(fs)
		if err != nil {
			t.Fatal(err)
		}
		return fs, l.compressed
	}
	fs, one := build()
	if _, two := build(); !bytes.Equal(one, two) {
		t.Error("two builds from one lock differ")
	}
	files := map[string]string{}
	for name, e := range fs.entries {
		files[name] = string(e.data)
	}
	site := "usr/local/lib/python3.11/dist-packages/"
	for name, want := range map[string]string{
		site + "app/__init__.py":             "def main()",
		site + "lib/_native.so":              "ELF",
		site + "app-1.0.dist-info/INSTALLER": "berth\n",
		"usr/local/bin/app":                  "#!/usr/bin/python3.11\n",
		"usr/local/bin/app-legacy":           "#!/usr/bin/python3.11\nprint('legacy')",
		"usr/local/share/app/readme":         "data file",
	} {
		if !strings.Contains(files[name], want) {
			t.Errorf("%s = %q, want it to hold %q", name, files[name], want)
		}
	}
	if !strings.Contains(files["usr/local/bin/app"], "from app import main") {
		t.Errorf("console script:\n%s", files["usr/local/bin/app"])
	}
	rec := files[site+"app-1.0.dist-info/RECORD"]
	for _, want := range []string{"app/__init__.py,sha256=", "../../../../../usr/local/bin/app,sha256=", "app-1.0.dist-info/INSTALLER,sha256=", "app-1.0.dist-info/RECORD,,"} {
		if !strings.Contains(rec, want) {
			t.Errorf("RECORD lacks %q:\n%s", want, rec)
		}
	}
	if strings.Contains(rec, "stale") {
		t.Error("the wheel's own RECORD was kept")
	}
	if e := fs.entries["usr/local/bin/app"]; e == nil || e.hdr.Mode != 0o755 || e.hdr.Uid != 0 || !e.hdr.ModTime.Equal(epoch) {
		t.Errorf("console script header: %+v", e)
	}

	// A file that is not what the lock says stops the build.
	for i := range lock.Python.Files {
		if lock.Python.Files[i].Name == "lib" {
			lock.Python.Files[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	b2, _ := NewBuilder(Options{CacheDir: t.TempDir(), LockDir: t.TempDir()})
	if _, err := b2.buildPython(t.Context(), r, lock, epoch); !errors.Is(err, deb.ErrChecksum) {
		t.Fatalf("a wheel that does not match the lock: %v, want a checksum error", err)
	}

	// A requirement nothing meets names who asked for what.
	r.Python.Requirements = []string{"app[plugins]", "lib>=2.3"}
	err = b.resolvePython(t.Context(), r, &Lock{})
	if err == nil || !strings.Contains(err.Error(), "no version of lib meets >=2.3 (from images.pyapp.python)") || !strings.Contains(err.Error(), "<2.2 (from plug 0.5)") {
		t.Fatalf("conflict: %v", err)
	}
}

func TestPythonRecipeErrors(t *testing.T) {
	_, err := DecodeRecipes(mustYAML(t, "x:\n  python:\n    requirements: [\"foo @ http://x\"]\ny:\n  python: {}\n"))
	if err == nil || !strings.Contains(err.Error(), "direct URL") || !strings.Contains(err.Error(), "give requirements or a file") {
		t.Fatalf("errors: %v", err)
	}
}

func mustYAML(t *testing.T, s string) *yaml.Node {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return &n
}
