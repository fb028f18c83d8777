package doctor

import (
	"strings"
)

// Longhorn's node prerequisites, checked on a node of a k3s cluster: the
// iSCSI initiator its volumes attach through, an NFS client for
// ReadWriteMany volumes and backups, and its data path's disk.
var (
	iscsiadmPaths = []string{"/usr/sbin/iscsiadm", "/sbin/iscsiadm", "/usr/bin/iscsiadm"}
	mountNFSPaths = []string{"/usr/sbin/mount.nfs", "/sbin/mount.nfs", "/usr/bin/mount.nfs"}
	k3sPaths      = []string{"/usr/local/bin/k3s", "/usr/bin/k3s"}
)

// LonghornDataPath is where Longhorn keeps replicas unless told otherwise.
const LonghornDataPath = "/var/lib/longhorn"

func checkCluster(r *reporter, opts Options) {
	h := opts.Host
	anyOf := func(paths []string) string {
		for _, p := range paths {
			if h.Exists(p) {
				return p
			}
		}
		return ""
	}
	if p := anyOf(k3sPaths); p != "" {
		r.add("k3s", OK, "", "%s is installed", p)
	} else {
		r.add("k3s", Warn, "install k3s (curl -sfL https://get.k3s.io | sh -), then 'berth cluster bootstrap'", "k3s is not installed on this node")
	}
	if p := anyOf(iscsiadmPaths); p != "" {
		r.add("longhorn iscsi", OK, "", "open-iscsi installed (%s)", p)
	} else {
		r.add("longhorn iscsi", Fail, "apt-get install open-iscsi && systemctl enable --now iscsid", "iscsiadm not found: Longhorn cannot attach volumes on this node")
	}
	if running(h, "iscsid") {
		r.add("longhorn iscsid", OK, "", "iscsid is running")
	} else {
		r.add("longhorn iscsid", Warn, "systemctl enable --now iscsid", "iscsid is not running")
	}
	if h.Exists("/sys/module/iscsi_tcp") {
		r.add("longhorn iscsi_tcp", OK, "", "kernel module iscsi_tcp is loaded")
	} else {
		r.add("longhorn iscsi_tcp", Warn, "modprobe iscsi_tcp && echo iscsi_tcp >/etc/modules-load.d/iscsi.conf", "kernel module iscsi_tcp is not loaded")
	}
	if p := anyOf(mountNFSPaths); p != "" {
		r.add("longhorn nfs", OK, "", "NFS client installed (%s)", p)
	} else {
		r.add("longhorn nfs", Warn, "apt-get install nfs-common", "no NFS client: ReadWriteMany volumes and NFS backup targets will not mount")
	}
}

// running reports whether a process named comm runs on the host.
func running(h interface {
	Glob(string) ([]string, error)
	ReadFile(string) ([]byte, error)
}, comm string) bool {
	files, err := h.Glob("/proc/[0-9]*/comm")
	if err != nil {
		return false
	}
	for _, f := range files {
		data, err := h.ReadFile(f)
		if err == nil && strings.TrimSpace(string(data)) == comm {
			return true
		}
	}
	return false
}
