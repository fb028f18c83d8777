package image

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAptMirrors(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/apt/sources.list.d"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/apt/sources.list.d/debian.sources"), []byte(`Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`), 0o644)
	os.WriteFile(filepath.Join(root, "etc/apt/sources.list.d/other.sources"), []byte("Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nSigned-By: /usr/share/keyrings/nodesource.gpg\n"), 0o644)
	m, s := aptMirrors(root)
	if m != "http://mirror.example/debian" || s != "http://mirror.example/debian-security" {
		t.Errorf("deb822: %s %s", m, s)
	}

	root = t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/apt"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte("# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://old.example/debian bullseye main\ndeb http://old.example/debian-security bullseye-security main\n"), 0o644)
	m, s = aptMirrors(root)
	if m != "http://old.example/debian" || s != "http://old.example/debian-security" {
		t.Errorf("one-line: %s %s", m, s)
	}

	m, s = aptMirrors(t.TempDir())
	if m != "http://deb.debian.org/debian" || s != "http://deb.debian.org/debian-security" {
		t.Errorf("defaults: %s %s", m, s)
	}
}
