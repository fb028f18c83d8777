package backup

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRestoreManifest restores generated manifest entries (directories,
// symlinks into and out of the data path, files with contents from a real
// pack, names with "..") into a staging directory beside a directory
// "outside", and checks that nothing outside the staging directory
// changed. The manifest is trusted here as if its HMAC held: this is the
// defence that remains when the key is stolen.
func FuzzRestoreManifest(f *testing.F) {
	data := filepath.Join(f.TempDir(), "data")
	fill(f, data)
	r := newRepo(f)
	res, err := r.Backup(f.Context(), newStub(f, "lab-notes"), []Target{target("lab-notes", data)}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	m := res.Manifest
	var contents []File
	for _, fl := range m.Services[0].Paths[0].Files {
		if fl.Type == TypeFile {
			contents = append(contents, fl)
		}
	}
	f.Add([]byte{2, 0, 0, 1, 4, 0})
	f.Add([]byte{0, 1, 0, 1, 9, 3, 2, 2, 5})
	f.Fuzz(func(t *testing.T, in []byte) {
		dir := t.TempDir()
		outside := filepath.Join(dir, "outside")
		os.MkdirAll(filepath.Join(outside, "sub"), 0o755)
		os.WriteFile(filepath.Join(outside, "victim"), []byte("host"), 0o600)
		before := tree(t, outside)
		comps := []string{"a", "b", "..", "esc", "sub", "victim", "."}
		links := []string{outside, filepath.Join(outside, "victim"), "../outside", "../../outside/sub", "a", "/", "b/.."}
		modes := []uint32{0o4755, 0o777, 0, 0o2750, 0o1777}
		p := Path{Files: []File{{Path: ".", Type: TypeDir, Mode: 0o755, UID: -1, GID: -1}}}
		for len(in) >= 3 && len(p.Files) < 32 {
			b := in[:3]
			in = in[3:]
			name := comps[int(b[1])%len(comps)]
			if b[1] >= 7 {
				name += "/" + comps[int(b[1]/7)%len(comps)]
			}
			fl := File{Path: name, Mode: modes[int(b[2])%len(modes)], UID: int(b[2] >> 4), GID: int(b[2] >> 4)}
			switch b[0] % 3 {
			case 0:
				fl.Type = TypeDir
			case 1:
				fl.Type, fl.Link = TypeSymlink, links[int(b[2])%len(links)]
			case 2:
				c := contents[int(b[2])%len(contents)]
				fl.Type, fl.SHA256, fl.Pack, fl.Size = TypeFile, c.SHA256, c.Pack, c.Size
			}
			p.Files = append(p.Files, fl)
		}
		mm := *m
		mm.Services = []Service{{Container: "lab-notes", Paths: []Path{p}}}
		_ = mm.problems()
		r.extract(t.Context(), p, m.Packs, filepath.Join(dir, "stage"), func(int64, int64) {})
		if after := tree(t, outside); after != before {
			t.Fatalf("outside the staging directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() != "outside" && e.Name() != "stage" {
				t.Fatalf("%s appeared beside the staging directory", e.Name())
			}
		}
	})
}
