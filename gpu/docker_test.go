package gpu_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/gpu/gputest"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/runtime"
)

// TestDevicesModeOnDocker gives a real container the devices-mode
// assignment of the two-GPU fake host, whose device nodes the test turns
// into real character devices with mknod, and checks that the container
// has exactly those nodes and the library mounts.
func TestDevicesModeOnDocker(t *testing.T) {
	eng := testenv.Docker(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but not root: mknod needs CAP_MKNOD")
		}
		t.Skip("mknod needs root")
	}
	host, err := gputest.Extract(filepath.Join(gputest.Dir(), "nvidia-cdi.txtar"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mknodStandIns(t, host.Path("/dev"))

	inv, err := gpu.Detect(t.Context(), host)
	if err != nil {
		t.Fatal(err)
	}
	// The nodes are real devices now: their numbers come from stat(2).
	if n, ok := inv.Node("/dev/nvidia1"); !ok || n.Major != 195 || n.Minor != 1 {
		t.Fatalf("/dev/nvidia1 = %+v, %v", n, ok)
	}
	info, err := eng.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a, err := gpu.Resolve(desired.GPU{All: true, Mode: gpu.ModeDevices}, inv, info)
	if err != nil {
		t.Fatal(err)
	}

	b := make([]byte, 4)
	rand.Read(b)
	name := "berthtest-gpu-" + hex.EncodeToString(b)
	spec := runtime.ContainerSpec{
		Name:    name,
		Image:   fixture.Load(t, eng),
		Labels:  map[string]string{runtime.LabelProject: name},
		Restart: "no",
	}
	a.Rooted(host).Apply(&spec)
	id, err := eng.CreateContainer(t.Context(), spec)
	if err != nil {
		t.Fatalf("creating container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		eng.RemoveContainer(ctx, id)
	})
	if err := eng.StartContainer(t.Context(), id); err != nil {
		t.Fatalf("starting container: %v", err)
	}
	stat := func(p string) int {
		code, err := eng.Exec(t.Context(), id, runtime.ExecOptions{Cmd: []string{fixture.Binary, "-stat", p}})
		if err != nil {
			t.Fatalf("exec -stat %s: %v", p, err)
		}
		return code
	}
	want := []string{"/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
		"/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.14"}
	for _, p := range want {
		if code := stat(p); code != 0 {
			t.Errorf("%s in the container: exit %d, want 0", p, code)
		}
	}
	// Only what the assignment names: the modeset node stays out.
	if code := stat("/dev/nvidia-modeset"); code != 1 {
		t.Errorf("/dev/nvidia-modeset in the container: exit %d, want 1", code)
	}
}

// mknodStandIns replaces the fake tree's stand-in files under dir with
// real character devices of the same numbers and group.
func mknodStandIns(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f := strings.Fields(string(data))
		maj, min, _ := strings.Cut(f[1], ":")
		ma, _ := strconv.Atoi(maj)
		mi, _ := strconv.Atoi(min)
		gid := 0
		if len(f) > 2 {
			gid, _ = strconv.Atoi(strings.TrimPrefix(f[2], "gid="))
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		// dev_t as glibc's makedev encodes it.
		dev := (mi & 0xff) | (ma&0xfff)<<8 | (mi&^0xff)<<12
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, dev); err != nil {
			return err
		}
		return os.Chown(p, 0, gid)
	})
	if err != nil {
		t.Fatalf("making device nodes: %v", err)
	}
}
