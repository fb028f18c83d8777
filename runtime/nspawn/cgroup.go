package nspawn

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/runtime"
)

// cgroupRoot is where the cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// limitFile is one limit written into a machine's cgroup.
type limitFile struct {
	controller string // v1 hierarchy; "" on v2
	file       string
	value      string
}

// limitFiles are the cgroup files that enforce r, for cgroup v2 or v1.
func limitFiles(r runtime.Resources, v2 bool) []limitFile {
	var out []limitFile
	if r.MemoryBytes > 0 {
		if v2 {
			out = append(out, limitFile{"", "memory.max", strconv.FormatInt(r.MemoryBytes, 10)})
		} else {
			out = append(out, limitFile{"memory", "memory.limit_in_bytes", strconv.FormatInt(r.MemoryBytes, 10)})
		}
	}
	if r.NanoCPUs > 0 {
		quota := r.NanoCPUs * cpuPeriod / 1e9
		if v2 {
			out = append(out, limitFile{"", "cpu.max", fmt.Sprintf("%d %d", quota, cpuPeriod)})
		} else {
			out = append(out, limitFile{"cpu", "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)}, limitFile{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)})
		}
	}
	if r.PidsLimit > 0 {
		c := "pids"
		if v2 {
			c = ""
		}
		out = append(out, limitFile{c, "pids.max", strconv.FormatInt(r.PidsLimit, 10)})
	}
	return out
}

// cpuPeriod is the CFS period NanoCPUs are expressed in, Docker's.
const cpuPeriod = 100_000

// cgroupDirs makes the machine's cgroups and writes its limits, returning
// the directories its monitor joins. nspawn applies limits only through
// systemd's scope units, which --keep-unit does without, so berth makes the
// cgroups itself, as Docker's cgroupfs driver does: on cgroup v2 under
// /sys/fs/cgroup/berth (the root is exempt from the rule that a cgroup with
// processes cannot hand controllers down), on v1 below berth's own cgroup
// in each hierarchy.
func (e *Engine) cgroupDirs(m *machineRecord) ([]string, error) {
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	v2 := err == nil
	files := limitFiles(m.Spec.Resources, v2)
	if len(files) == 0 {
		return nil, nil
	}
	leaf := "berth-" + m.ID[:16]
	dirs := map[string]string{} // controller → directory
	if v2 {
		parent := filepath.Join(cgroupRoot, "berth")
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
		var want []string
		for _, c := range []string{"memory", "cpu", "pids"} {
			want = append(want, "+"+c)
		}
		if err := os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte(strings.Join(want, " ")), 0o644); err != nil {
			return nil, fmt.Errorf("enabling cgroup controllers: %w", err)
		}
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte(strings.Join(want, " ")), 0o644); err != nil {
			return nil, fmt.Errorf("enabling cgroup controllers: %w", err)
		}
		dirs[""] = filepath.Join(parent, leaf)
	} else {
		own, err := ownCgroups()
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			dirs[f.controller] = filepath.Join(cgroupRoot, f.controller, own[f.controller], leaf)
		}
	}
	var out []string
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("making cgroup %s: %w", d, err)
		}
		out = append(out, d)
	}
	for _, f := range files {
		p := filepath.Join(dirs[f.controller], f.file)
		if err := os.WriteFile(p, []byte(f.value), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return out, nil
}

// ownCgroups maps each v1 controller to this process's cgroup in it.
func ownCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			out[c] = f[2]
		}
	}
	return out, nil
}

// removeCgroups removes the machine's cgroups once its processes are gone.
func (e *Engine) removeCgroups(m *machineRecord) {
	leaf := "berth-" + m.ID[:16]
	_ = os.Remove(filepath.Join(cgroupRoot, "berth", leaf))
	own, err := ownCgroups()
	if err != nil {
		return
	}
	for _, c := range []string{"memory", "cpu", "pids"} {
		_ = os.Remove(filepath.Join(cgroupRoot, c, own[c], leaf))
	}
}
