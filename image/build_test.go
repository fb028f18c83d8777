package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/voidnxlabs/berth/image/deb"
	"github.com/voidnxlabs/berth/image/deb/debtest"
	"github.com/voidnxlabs/berth/internal/golden"
)

// fixture publishes a tiny bookworm-like archive.
func fixture(t *testing.T) *debtest.Archive {
	return debtest.Serve(t, map[string][]debtest.Package{
		"bookworm": {
			{Name: "base-passwd", Version: "3.6.1", Files: map[string]string{
				"/usr/share/base-passwd/passwd.master": "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
				"/usr/share/base-passwd/group.master":  "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n",
				"/usr/sbin/update-passwd":              "binary",
			}},
			{Name: "libc6", Version: "2.36-9", Priority: "required", Files: map[string]string{
				"/lib/x86_64-linux-gnu/libc.so.6":          "libc",
				"/lib64/ld-linux-x86-64.so.2":              "->/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
				"/lib/x86_64-linux-gnu/ld-linux.so":        "ld",
				"/usr/share/doc/libc6/copyright":           "GPL",
				"/usr/share/doc/libc6/changelog":           "long",
				"/usr/share/man/man1/ldd.1":                "man",
				"/usr/share/locale/de/LC_MESSAGES/libc.mo": "de",
			}},
			{Name: "libblas3", Version: "3.11.0-2", Depends: "libc6 (>= 2.14)", Files: map[string]string{
				"/usr/lib/x86_64-linux-gnu/blas/libblas.so.3": "blas",
			}, Postinst: "#!/bin/sh\nset -e\nupdate-alternatives --install /usr/lib/x86_64-linux-gnu/libblas.so.3 \\\n  libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/blas/libblas.so.3 10\n"},
			{Name: "ca-certificates", Version: "20230311", Depends: "openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0", Files: map[string]string{
				"/usr/share/ca-certificates/mozilla/B.crt": "-----CERT B-----",
				"/usr/share/ca-certificates/mozilla/A.crt": "-----CERT A-----\n",
			}},
			{Name: "openssl", Version: "3.0.11-1", Files: map[string]string{"/usr/bin/openssl": "openssl"}},
			{Name: "dash", Version: "0.5.12-2", Files: map[string]string{"/bin/dash": "dash", "/bin/sh": "->dash"}},
			{Name: "hello", Version: "2.10-3", Depends: "libc6 (>= 2.34), libblas3 | libblas.so.3, ca-certificates", Files: map[string]string{
				"/usr/bin/hello":         "#!/bin/sh\necho hello\n",
				"/bin/hello-old":         "->../usr/bin/hello",
				"/usr/share/hello/x.txt": "data",
			}},
		},
		"bookworm-updates": {},
		"bookworm-security": {
			{Name: "libc6", Version: "2.36-9+deb12u4", Priority: "required", Files: map[string]string{
				"/lib/x86_64-linux-gnu/libc.so.6":   "libc patched",
				"/lib64/ld-linux-x86-64.so.2":       "->/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
				"/lib/x86_64-linux-gnu/ld-linux.so": "ld",
				"/usr/share/doc/libc6/copyright":    "GPL",
			}},
		},
	})
}

func smallRecipe() Recipe {
	return Recipe{
		Name:       "small",
		Suite:      "bookworm",
		Packages:   []string{"hello", "dash"},
		Exclude:    []string{"openssl", "debconf", "debconf-2.0"},
		Users:      []User{{Name: "app", UID: 1000, Home: "/home/app", Groups: []string{"www-data"}}},
		Dirs:       []Dir{{Path: "/data", Owner: "app", Mode: 0o750}},
		Files:      []File{{Path: "/etc/hello.conf", Content: "greeting=hi\n"}, {Path: "/usr/local/bin/hi", Link: "/usr/bin/hello"}},
		Env:        map[string]string{"GREETING": "hi"},
		Entrypoint: []string{"/usr/bin/hello"},
		User:       "app",
		Workdir:    "/data",
		Ports:      []Port{"8080/tcp"},
	}
}

func testBuilder(t *testing.T, a *debtest.Archive, cache string, mod func(*Options)) *Builder {
	t.Helper()
	o := Options{
		CacheDir: cache, LockDir: filepath.Join(cache, "locks"),
		Keyrings: []string{a.Keyring}, Mirror: a.URL, SecurityMirror: a.URL,
		// The fixture's Release has no Valid-Until; this is the option a
		// snapshot mirror needs.
		IgnoreValidUntil: true,
	}
	if mod != nil {
		mod(&o)
	}
	b, err := NewBuilder(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listing renders an image's merged filesystem, one line per path: the
// golden text of what the builder writes.
func listing(t *testing.T, res *Result) string {
	t.Helper()
	flat := mutate.Extract(res.Image)
	defer flat.Close()
	tr := tar.NewReader(flat)
	var lines []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%04o %d:%d %s", h.Mode&0o7777, h.Uid, h.Gid, h.Name)
		switch h.Typeflag {
		case tar.TypeSymlink:
			line += " -> " + h.Linkname
		case tar.TypeLink:
			line += " link " + h.Linkname
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			if strings.HasPrefix(h.Name, "etc/") || strings.Contains(h.Name, "status.d/hello") {
				line += "\n\t" + strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\n\t")
			} else {
				line += fmt.Sprintf(" (%d bytes)", len(b))
			}
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), []byte(got))
}

func TestBuildSmall(t *testing.T) {
	a := fixture(t)
	b := testBuilder(t, a, t.TempDir(), nil)
	res, err := b.Build(t.Context(), smallRecipe())
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(res.Image); err != nil {
		t.Fatalf("invalid image: %v", err)
	}
	checkGolden(t, "small.txt", listing(t, res))

	var names []string
	for _, p := range res.Lock.Packages {
		names = append(names, p.Name+"="+p.Version+"@"+p.Suite)
	}
	if got, want := strings.Join(names, " "), "ca-certificates=20230311@bookworm dash=0.5.12-2@bookworm hello=2.10-3@bookworm libblas3=3.11.0-2@bookworm libc6=2.36-9+deb12u4@bookworm-security"; got != want {
		t.Errorf("lock:\n got %s\nwant %s", got, want)
	}
	cf, _ := res.Image.ConfigFile()
	if cf.Config.User != "app" || cf.Created.Time.Unix() != time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("config: user %q created %s", cf.Config.User, cf.Created.Time)
	}
}

func TestBuildDeterministic(t *testing.T) {
	a := fixture(t)
	// Two builders with separate caches: nothing is shared but the archive.
	r1, err := testBuilder(t, a, t.TempDir(), nil).Build(t.Context(), smallRecipe())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := testBuilder(t, a, t.TempDir(), nil).Build(t.Context(), smallRecipe())
	if err != nil {
		t.Fatal(err)
	}
	if r1.Digest != r2.Digest {
		t.Errorf("two builds differ: %s and %s", r1.Digest, r2.Digest)
	}
	var t1, t2 bytes.Buffer
	if err := WriteTarball(&t1, r1.Image, r1.Ref); err != nil {
		t.Fatal(err)
	}
	if err := WriteTarball(&t2, r2.Image, r2.Ref); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(t1.Bytes(), t2.Bytes()) {
		t.Error("two tarballs of the same image differ")
	}
	// SOURCE_DATE_EPOCH changes the image, not the package layers.
	r3, err := testBuilder(t, a, t.TempDir(), func(o *Options) { o.SourceDateEpoch = time.Unix(1700000000, 0) }).Build(t.Context(), smallRecipe())
	if err != nil {
		t.Fatal(err)
	}
	if r3.Digest == r1.Digest {
		t.Error("SOURCE_DATE_EPOCH did not change the image")
	}
	for i := range r1.Layers {
		if r1.Layers[i].What == "packages" && r1.Layers[i].Digest != r3.Layers[i].Digest {
			t.Errorf("package layer %v changed with SOURCE_DATE_EPOCH", r1.Layers[i].Packages)
		}
	}
}

func TestWarmBuildIsOffline(t *testing.T) {
	a := fixture(t)
	cache := t.TempDir()
	r1, err := testBuilder(t, a, cache, nil).Build(t.Context(), smallRecipe())
	if err != nil {
		t.Fatal(err)
	}
	before := a.Requests()
	r2, err := testBuilder(t, a, cache, func(o *Options) { o.Offline = true }).Build(t.Context(), smallRecipe())
	if err != nil {
		t.Fatal(err)
	}
	if a.Requests() != before {
		t.Errorf("warm build made %d requests", a.Requests()-before)
	}
	if r1.Digest != r2.Digest {
		t.Errorf("warm build differs: %s and %s", r1.Digest, r2.Digest)
	}
	// A stale lock with Locked set is an error, not a silent re-resolve.
	changed := smallRecipe()
	changed.Packages = append(changed.Packages, "openssl")
	if _, err := testBuilder(t, a, cache, func(o *Options) { o.Locked = true }).Build(t.Context(), changed); err == nil || !strings.Contains(err.Error(), "does not match the recipe") {
		t.Errorf("stale lock: %v", err)
	}
}

func TestTamper(t *testing.T) {
	for _, c := range []struct {
		name   string
		path   string
		change func([]byte) []byte
		want   error
		msg    string
	}{
		{"deb", "pool/main/hello/hello_2.10-3_amd64.deb", func(b []byte) []byte { b[len(b)-3] ^= 1; return b }, deb.ErrChecksum, "verifying http"},
		{"index", "dists/bookworm/main/binary-amd64/Packages.gz", func(b []byte) []byte { return append(b, 0) }, deb.ErrChecksum, "reading index"},
		{"signature", "dists/bookworm/InRelease", func(b []byte) []byte {
			return bytes.Replace(b, []byte("Codename: bookworm"), []byte("Codename: bookwarm"), 1)
		}, deb.ErrBadSignature, "verifying http"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := fixture(t)
			a.Tamper = func(p string, b []byte) []byte {
				if p == c.path {
					return c.change(b)
				}
				return b
			}
			cache := t.TempDir()
			res, err := testBuilder(t, a, cache, nil).Build(t.Context(), smallRecipe())
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if res != nil {
				t.Error("an image was returned")
			}
			t.Log(err)
		})
	}
}

func TestTamperedCache(t *testing.T) {
	a := fixture(t)
	cache := t.TempDir()
	if _, err := testBuilder(t, a, cache, nil).Build(t.Context(), smallRecipe()); err != nil {
		t.Fatal(err)
	}
	lock, err := ReadLock(LockPath(filepath.Join(cache, "locks"), "small"))
	if err != nil {
		t.Fatal(err)
	}
	var sum string
	for _, p := range lock.Packages {
		if p.Name == "hello" {
			sum = p.SHA256
		}
	}
	f := filepath.Join(cache, "sha256", sum[:2], sum)
	b, _ := os.ReadFile(f)
	b[len(b)-3] ^= 1
	os.WriteFile(f, b, 0o644)
	if _, err := testBuilder(t, a, cache, nil).Build(t.Context(), smallRecipe()); !errors.Is(err, deb.ErrChecksum) {
		t.Errorf("altered cache: %v", err)
	}
}

func TestTarballAndPush(t *testing.T) {
	a := fixture(t)
	res, err := testBuilder(t, a, t.TempDir(), nil).Build(t.Context(), smallRecipe())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "small.tar")
	if err := WriteTarballFile(file, res.Image, res.Ref); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTarball(file)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := back.Digest(); d != res.Digest {
		t.Errorf("tarball round trip: %s, want %s", d, res.Digest)
	}
	if err := validate.Image(back); err != nil {
		t.Errorf("read back: %v", err)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/berth/small:v1"
	if err := Push(t.Context(), back, ref); err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(mustRef(t, ref), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d != res.Digest {
		t.Errorf("pulled %s, pushed %s", d, res.Digest)
	}
}

func TestLayerCap(t *testing.T) {
	a := fixture(t)
	r := smallRecipe()
	r.MaxLayers = 4
	res, err := testBuilder(t, a, t.TempDir(), nil).Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) > 4 {
		t.Errorf("%d layers, cap 4", len(res.Layers))
	}
	full, err := testBuilder(t, a, t.TempDir(), nil).Build(t.Context(), smallRecipe())
	if err != nil {
		t.Fatal(err)
	}
	// The same files, however they are grouped.
	if listing(t, res) != listing(t, full) {
		t.Error("grouping changed the image's files")
	}
}
