// Package gputest gives tests the fake hosts of gpu/testdata/hosts and a
// golden-file check.
//
// A fake host is one txtar archive. A section named /some/path is a file
// of the host tree; "/path -> target" is a symlink (sysfs's driver links);
// "cmd/NAME" is the standard output of the command NAME, answered by the
// host's Runner whatever the arguments (a missing section reads as a
// command that is not installed). Device nodes are files in the format
// gpu.Host documents. Archives, not directories, because PCI addresses
// contain colons, which Go module zips do not allow in file names.
package gputest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/internal/golden"
)

// Dir is the directory of the fake host archives.
func Dir() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "hosts")
}

// Names lists the fake hosts, sorted.
func Names(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(Dir(), "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range m {
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".txtar"))
	}
	sort.Strings(out)
	return out
}

// Host extracts the fake host name into a temporary directory and returns
// a gpu.Host rooted there.
func Host(t testing.TB, name string) gpu.Host {
	t.Helper()
	h, err := Extract(filepath.Join(Dir(), name+".txtar"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Extract writes the archive at path into dir and returns the host.
func Extract(path, dir string) (gpu.Host, error) {
	ar, err := txtar.ParseFile(path)
	if err != nil {
		return gpu.Host{}, fmt.Errorf("reading %s: %w", path, err)
	}
	root := filepath.Join(dir, "root")
	cmds := map[string][]byte{}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return gpu.Host{}, err
	}
	for _, f := range ar.Files {
		if name, ok := strings.CutPrefix(f.Name, "cmd/"); ok {
			cmds[name] = f.Data
			continue
		}
		if !strings.HasPrefix(f.Name, "/") {
			return gpu.Host{}, fmt.Errorf("reading %s: section %q is neither /path nor cmd/name", path, f.Name)
		}
		name, target, link := strings.Cut(f.Name, " -> ")
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return gpu.Host{}, err
		}
		if link {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, f.Data, 0o644)
		}
		if err != nil {
			return gpu.Host{}, err
		}
	}
	run := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		out, ok := cmds[name]
		if !ok {
			return nil, fmt.Errorf("running %s: %w", name, exec.ErrNotFound)
		}
		return bytes.Clone(out), nil
	}
	return gpu.Host{Root: root, Run: run}, nil
}

// Golden compares got with the file at path; BERTH_UPDATE=1 rewrites it.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	golden.Check(t, path, []byte(got))
}
