package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/image/deb"
	"github.com/voidnxlabs/berth/internal/extract"
)

// buildGo builds the recipe's Go programs the way ko does, so that the
// same source and toolchain give the same bytes:
//   - -trimpath removes the builder's directories from the binary;
//   - -buildvcs=false keeps the checkout's state (a dirty tree, a commit
//     time) out of it;
//   - -ldflags -buildid= drops the build ID, which hashes the action
//     graph, and -s -w the symbol tables;
//   - CGO_ENABLED=0 unless the program asks for cgo, so that the binary
//     needs nothing from the image and no C toolchain is involved.
func (b *Builder) buildGo(ctx context.Context, r Recipe, lock *Lock, t time.Time) (*fileSet, error) {
	fs := newFileSet(t)
	for _, g := range r.Go {
		b.event(Event{Image: r.Name, Stage: "go", Item: g.Name, Message: "building " + g.Package})
		bin, err := b.goBuild(ctx, r, g, lock)
		if err != nil {
			return nil, fmt.Errorf("building Go program %s: %w", g.Name, err)
		}
		dest := g.Dest
		if dest == "" {
			dest = "/usr/local/bin/" + g.Name
		}
		fs.addFile(canonical(dest), 0o755, 0, 0, t, bin)
	}
	return fs, nil
}

func (b *Builder) goBuild(ctx context.Context, r Recipe, g Go, lock *Lock) ([]byte, error) {
	// A private TMPDIR in the cache (the go command's work directories
	// and cgo's compiler temporaries go there), never the machine's /tmp.
	tmp, tmpdir, _, err := b.stepDirs("go")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bin")
	ldflags := append([]string{"-s", "-w", "-buildid="}, g.Ldflags...)
	// -v names each package as it is compiled: the heartbeat shows it.
	args := []string{"-v", "-trimpath", "-buildvcs=false", "-ldflags=" + strings.Join(ldflags, " ")}
	if len(g.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(g.Tags, ","))
	}
	env := append(os.Environ(), "GOOS=linux", "GOARCH="+b.arch, "GOFLAGS=", "TMPDIR="+tmpdir)
	if g.CGO {
		env = append(env, "CGO_ENABLED=1")
		root, inc, err := b.cgoIncludes(ctx, g, lock)
		if err != nil {
			return nil, err
		}
		if len(inc) > 0 {
			// The include directory has a stable path (named by its
			// content) so that the compiler flags, and with them Go's
			// build cache keys, are the same in every build; the prefix
			// map keeps that path out of __FILE__ strings in the binary.
			inc := "-I" + strings.Join(inc, " -I")
			remap := "-ffile-prefix-map=" + root + "=/berth-cgo"
			env = append(env, "CGO_CPPFLAGS="+inc, "CGO_CFLAGS=-O2 -g "+remap, "CGO_CXXFLAGS=-O2 -g "+remap)
		}
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	env = append(env, g.Env...)
	dir := g.Dir
	if dir == "" {
		dir = b.opts.WorkDir
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join(b.opts.WorkDir, dir)
	}
	var cmd *exec.Cmd
	if strings.Contains(g.Package, "@") {
		// A module at a version: go install is the only command that
		// builds one outside a main module; GOBIN catches the binary.
		gobin := filepath.Join(tmp, "gobin")
		cmd = exec.CommandContext(ctx, b.opts.GoCommand, append(append([]string{"install"}, args...), g.Package)...)
		cmd.Dir = tmp
		env = append(env, "GOBIN="+gobin, "GO111MODULE=on")
		name := path.Base(strings.SplitN(g.Package, "@", 2)[0])
		out = filepath.Join(gobin, name)
	} else {
		cmd = exec.CommandContext(ctx, b.opts.GoCommand, append(append([]string{"build", "-o", out}, args...), g.Package)...)
		cmd.Dir = dir
	}
	cmd.Env = env
	msg := "compiling " + g.Package
	if g.CGO {
		msg += " (cgo)"
	}
	if err := b.runStep(ctx, cmd, Event{Image: r.Name, Stage: "go", Item: g.Name, Message: msg}, nil); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// cgoIncludes prepares include directories for a cgo build: the headers of
// Debian build packages, unpacked into a private sysroot (never into the
// image), and header files taken from other Go modules. They live in the
// cache under a name derived from their sources.
func (b *Builder) cgoIncludes(ctx context.Context, g Go, lock *Lock) (root string, inc []string, err error) {
	pkgs := lock.Build[g.Name]
	if len(pkgs) == 0 && len(g.Headers) == 0 {
		return "", nil, nil
	}
	h := sha256.New()
	fmt.Fprintln(h, "berth-cgo-v1")
	for _, p := range pkgs {
		fmt.Fprintln(h, p.SHA256)
	}
	for _, hd := range g.Headers {
		fmt.Fprintln(h, hd.Module, hd.File, hd.As)
	}
	root = filepath.Join(b.opts.CacheDir, "cgo", hex.EncodeToString(h.Sum(nil))[:24])
	if len(pkgs) > 0 {
		inc = append(inc, filepath.Join(root, "sysroot/usr/include"))
	}
	if len(g.Headers) > 0 {
		inc = append(inc, filepath.Join(root, "headers"))
	}
	if _, err := os.Stat(root); err == nil {
		return root, inc, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".part-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
			return "", nil, err
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(root), ".part-"); err != nil {
			return "", nil, err
		}
	}
	defer os.RemoveAll(tmp)
	if len(pkgs) > 0 {
		if err := os.Mkdir(filepath.Join(tmp, "sysroot"), 0o755); err != nil {
			return "", nil, err
		}
	}
	for _, p := range pkgs {
		fp, err := b.fetchVerified(ctx, p)
		if err != nil {
			return "", nil, err
		}
		d, err := deb.Open(fp)
		if err != nil {
			return "", nil, err
		}
		// Beneath the sysroot, as every extraction of someone else's
		// archive is.
		sys, err := extract.Open(filepath.Join(tmp, "sysroot"), extract.Options{})
		if err != nil {
			d.Close()
			return "", nil, err
		}
		err = d.Walk(func(h *tar.Header, r io.Reader) error {
			n := canonical(h.Name)
			if !strings.HasPrefix(n, "usr/include/") || h.Typeflag != tar.TypeReg {
				return nil
			}
			_, err := sys.WriteFile(n, r, &extract.Meta{Mode: 0o644, UID: os.Geteuid(), GID: os.Getegid(), MTime: h.ModTime})
			return err
		})
		sys.Close()
		d.Close()
		if err != nil {
			return "", nil, fmt.Errorf("unpacking %s: %w", p.Name, err)
		}
	}
	var area, tmpdir string
	if len(g.Headers) > 0 {
		// The go command's temporaries go to a private TMPDIR, as in goBuild.
		if area, tmpdir, _, err = b.stepDirs("gomod"); err != nil {
			return "", nil, err
		}
		defer os.RemoveAll(area)
	}
	for _, hd := range g.Headers {
		cmd := exec.CommandContext(ctx, b.opts.GoCommand, "mod", "download", "-json", hd.Module)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "TMPDIR="+tmpdir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return "", nil, fmt.Errorf("downloading %s: %w: %s", hd.Module, err, strings.TrimSpace(stderr.String()))
		}
		var info struct{ Dir string }
		if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
			return "", nil, fmt.Errorf("downloading %s: %w", hd.Module, err)
		}
		data, err := os.ReadFile(filepath.Join(info.Dir, hd.File))
		if err != nil {
			return "", nil, fmt.Errorf("reading %s from %s: %w", hd.File, hd.Module, err)
		}
		as := hd.As
		if as == "" {
			as = hd.File
		}
		dst := filepath.Join(tmp, "headers", as)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return "", nil, err
		}
	}
	if err := os.Rename(tmp, root); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(root); serr != nil {
			return "", nil, err
		}
	}
	return root, inc, nil
}
