package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/gpu"
)

func TestClusterNode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  []string
	}{
		{"bare", nil, []string{
			"warn  k3s",
			"fail  longhorn iscsi ",
			"warn  longhorn iscsid",
			"warn  longhorn iscsi_tcp",
			"warn  longhorn nfs",
		}},
		{"ready", []string{"usr/local/bin/k3s", "usr/sbin/iscsiadm", "sbin/mount.nfs", "sys/module/iscsi_tcp/refcnt", "proc/412/comm=iscsid", "proc/7/comm=bash"}, []string{
			"ok    k3s",
			"ok    longhorn iscsi ",
			"ok    longhorn iscsid",
			"ok    longhorn iscsi_tcp",
			"ok    longhorn nfs",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tc.files {
				name, content, _ := strings.Cut(f, "=")
				p := filepath.Join(root, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(content+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			r := &reporter{}
			checkCluster(r, Options{Host: gpu.Host{Root: root}})
			rep := Report{Findings: r.findings}.String()
			for _, w := range tc.want {
				if !strings.Contains(rep, w) {
					t.Errorf("report lacks %q:\n%s", w, rep)
				}
			}
			if tc.name == "bare" && !(Report{Findings: r.findings}).Failed() {
				t.Error("a node without open-iscsi did not fail")
			}
		})
	}
}
