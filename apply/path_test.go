package apply

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/voidnxlabs/berth/desired"
)

// A missing data path is made with the config's owner and mode (not cut
// by the umask); an existing one, a symlink to a host file included, is
// left exactly as it is: its target gets no new owner or mode.
func TestEnsurePath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	p := &desired.DataPath{Host: filepath.Join(dir, "a", "b", "data"), UID: 65534, GID: 65534, Mode: 0o2750}
	if err := ensurePath(p); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p.Host, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o2750 || st.Uid != 65534 || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		t.Errorf("data path: mode %o, owner %d", st.Mode, st.Uid)
	}

	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("host"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(victim, link)
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "later"), dangling)
	for _, h := range []string{link, dangling} {
		if err := ensurePath(&desired.DataPath{Host: h, UID: 65534, GID: 65534, Mode: 0o777}); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	syscall.Stat(victim, &st)
	if st.Mode&0o7777 != 0o600 || st.Uid != 0 {
		t.Errorf("the symlink's target changed: mode %o owner %d", st.Mode, st.Uid)
	}
	if _, err := os.Lstat(filepath.Join(dir, "later")); err == nil {
		t.Errorf("a directory was made through a dangling symlink")
	}
}
