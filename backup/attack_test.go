package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/internal/extract"
)

// testKey authenticates the manifests of the package's tests.
var testKey = bytes.Repeat([]byte{0x42}, 32)

// hostile is a backup of a target's data path, with a directory "outside"
// beside the data path that holds a victim file, so that a test can check
// that a restore never reached it.
type hostile struct {
	r              *Repo
	eng            *stubEngine
	tg             Target
	m              *Manifest
	data, outside  string
	before, victim string
}

func newHostile(t *testing.T) *hostile {
	dir := t.TempDir()
	h := &hostile{data: filepath.Join(dir, "data"), outside: filepath.Join(dir, "outside")}
	fill(t, h.data)
	os.MkdirAll(h.outside, 0o755)
	os.WriteFile(filepath.Join(h.outside, "victim"), []byte("host"), 0o600)
	h.r = newRepo(t)
	h.eng = newStub(t, "lab-notes")
	h.tg = target("lab-notes", h.data)
	res, err := h.r.Backup(t.Context(), h.eng, []Target{h.tg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.m = res.Manifest
	os.WriteFile(filepath.Join(h.data, "after"), []byte("written after the backup"), 0o644)
	h.before, h.victim = tree(t, h.data), tree(t, h.outside)
	h.eng.events = nil
	return h
}

// unharmed fails unless the data path and the directory beside it are as
// they were and the service was not touched.
func (h *hostile) unharmed(t *testing.T) {
	t.Helper()
	if got := tree(t, h.outside); got != h.victim {
		t.Errorf("outside the data path changed:\n%s", got)
	}
	if got := tree(t, h.data); got != h.before {
		t.Errorf("a refused restore changed the data path:\n%s", got)
	}
	if len(h.eng.events) != 0 {
		t.Errorf("a refused restore touched the service: %v", h.eng.events)
	}
}

// forge rewrites the manifest as someone who can write the repository but
// does not hold the key would: edited JSON with a checksum line of their
// own making.
func (h *hostile) forge(t *testing.T, edit func(m *Manifest), macLine func(data []byte) string) {
	edit(h.m)
	data, err := json.MarshalIndent(h.m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	os.WriteFile(h.r.path("manifests", h.m.ID+".json"), data, 0o600)
	os.WriteFile(h.r.path("manifests", h.m.ID+".hmac"), []byte(macLine(data)), 0o600)
}

// Issue 14, row 2: a manifest whose path goes to a Host of the forger's
// choosing, made to pass the old check (a plain sha256), or signed with a
// key of the forger's own. Verify reports it; restore refuses it.
func TestForgedManifest(t *testing.T) {
	toOutside := func(h *hostile) func(m *Manifest) {
		return func(m *Manifest) {
			m.Services[0].Paths[0].Option = "lab.lab-notes.other"
			m.Services[0].Paths[0].Host = h.outside
		}
	}
	cases := []struct {
		name string
		mac  func(data []byte) string
		want string
	}{
		{"plain sha256", func(data []byte) string {
			s := sha256.Sum256(data)
			return hex.EncodeToString(s[:]) + "  manifest.json\n"
		}, "has no HMAC"},
		{"key of the forger's own", func(data []byte) string {
			k := bytes.Repeat([]byte{7}, 32)
			return "hmac-sha256 " + keyID(k) + " " + macOf(k, data) + "\n"
		}, "another backup key"},
		{"this key's id, a guessed mac", func(data []byte) string {
			s := sha256.Sum256(append(testKey[:0:0], data...))
			return "hmac-sha256 " + keyID(testKey) + " " + hex.EncodeToString(s[:]) + "\n"
		}, "authentication failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHostile(t)
			h.forge(t, toOutside(h), c.mac)
			vr, err := h.r.Verify(t.Context(), h.m.ID, nil)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) || len(vr.Problems) == 0 {
				t.Fatalf("verify: %v, want a corrupt backup saying %q", err, c.want)
			}
			_, err = h.r.Restore(t.Context(), h.eng, h.m.ID, []Target{h.tg}, Options{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("restore: %v, want ErrCorrupt", err)
			}
			h.unharmed(t)
		})
	}
}

// A repository opened without a key trusts no manifest.
func TestNoKey(t *testing.T) {
	h := newHostile(t)
	r := &Repo{Dir: h.r.Dir}
	if _, err := r.Manifest(h.m.ID); !errors.Is(err, ErrNoKey) {
		t.Fatalf("manifest without a key: %v", err)
	}
	if _, err := r.Restore(t.Context(), h.eng, h.m.ID, []Target{h.tg}, Options{}); err == nil {
		t.Fatal("restore without a key succeeded")
	}
	h.unharmed(t)
}

// Issue 14, row 2: even an authenticated manifest (an older config's
// backup) restores only into the data paths of the current config, never
// to the Host it records.
func TestRestoreOnlyCurrentDataPaths(t *testing.T) {
	h := newHostile(t)
	h.m.Services[0].Paths[0].Option = "lab.lab-notes.removedPath"
	h.m.Services[0].Paths[0].Host = h.outside
	if err := h.r.writeManifest(h.m); err != nil {
		t.Fatal(err)
	}
	_, err := h.r.Restore(t.Context(), h.eng, h.m.ID, []Target{h.tg}, Options{})
	if !errors.Is(err, ErrNotDataPath) {
		t.Fatalf("restore: %v, want ErrNotDataPath", err)
	}
	h.unharmed(t)
}

// Issue 14, row 3: a symlink entry "esc -> outside" then "esc/pwned"
// (setuid, owned by root) must not write through the link, even in a
// manifest that authenticates (a stolen key); modes and owners never go
// through a link either.
func TestRestoreSymlinkEscape(t *testing.T) {
	h := newHostile(t)
	p := &h.m.Services[0].Paths[0]
	var content File
	for _, f := range p.Files {
		if f.Type == TypeFile {
			content = f
		}
	}
	content.Path, content.Mode, content.UID = "esc/pwned", 0o4755, 0
	p.Files = append(p.Files,
		File{Path: "esc", Type: TypeSymlink, Link: h.outside, Mode: 0o777},
		content,
	)
	if err := h.r.writeManifest(h.m); err != nil {
		t.Fatal(err)
	}
	_, err := h.r.Restore(t.Context(), h.eng, h.m.ID, []Target{h.tg}, Options{})
	if !errors.Is(err, extract.ErrOutside) {
		t.Fatalf("restore: %v, want ErrOutside", err)
	}
	h.unharmed(t)
	if _, err := os.Stat(restoreDir(h.data)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the staging directory is left: %v", err)
	}
}

// A symlink in the data path that points outside it is legitimate and is
// restored as a link; its mode and owner in the manifest are applied to
// the link, never to what it points at.
func TestRestoreSymlinkMetaStaysOnLink(t *testing.T) {
	h := newHostile(t)
	victim := filepath.Join(h.outside, "victim")
	p := &h.m.Services[0].Paths[0]
	p.Files = append(p.Files, File{Path: "tohost", Type: TypeSymlink, Link: victim, Mode: 0o4777, UID: 4242, GID: 4242})
	if err := h.r.writeManifest(h.m); err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.Restore(t.Context(), h.eng, h.m.ID, []Target{h.tg}, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, h.outside); got != h.victim {
		t.Errorf("the link's target changed:\n%s\nwas\n%s", got, h.victim)
	}
	if l, err := os.Readlink(filepath.Join(h.data, "tohost")); err != nil || l != victim {
		t.Errorf("tohost -> %q, %v", l, err)
	}
}

// A file of the data path swapped for a symlink to a host file while the
// backup runs (whoever owns a home directory can do that to a data path
// in it) must not bring the host file into the backup.
func TestBackupDoesNotFollowSwappedFile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a"), []byte("first"), 0o644)
	os.WriteFile(filepath.Join(data, "b"), []byte("12345678901"), 0o644)
	victim := filepath.Join(dir, "shadow")
	os.WriteFile(victim, []byte("root:secret"), 0o600) // the same size as b
	r := newRepo(t)
	swapped := false
	opts := Options{Hook: func(point string) {
		if point == "backup-copying" && !swapped {
			swapped = true
			os.Remove(filepath.Join(data, "b"))
			os.Symlink(victim, filepath.Join(data, "b"))
		}
	}}
	res, err := r.Backup(t.Context(), newStub(t, "lab-notes"), []Target{target("lab-notes", data)}, opts)
	if !swapped {
		t.Fatal("the hook never ran")
	}
	if err == nil {
		for _, f := range res.Manifest.Services[0].Paths[0].Files {
			if f.Path == "b" && f.Type == TypeFile {
				t.Fatalf("the backup holds b as a file (sha256 %s): the host file was read through the link", f.SHA256)
			}
		}
	}
}
