package image

import (
	"archive/tar"
	"bytes"
	"context"
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
	tmp, err := os.MkdirTemp("", "berth-go-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bin")
	ldflags := append([]string{"-s", "-w", "-buildid="}, g.Ldflags...)
	args := []string{"-trimpath", "-buildvcs=false", "-ldflags=" + strings.Join(ldflags, " ")}
	if len(g.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(g.Tags, ","))
	}
	env := append(os.Environ(), "GOOS=linux", "GOARCH="+b.arch, "GOFLAGS=")
	if g.CGO {
		env = append(env, "CGO_ENABLED=1")
		inc, err := b.cgoIncludes(ctx, g, lock, tmp)
		if err != nil {
			return nil, err
		}
		if len(inc) > 0 {
			flags := "-I" + strings.Join(inc, " -I")
			env = append(env, "CGO_CPPFLAGS="+flags, "CGO_CXXFLAGS="+flags)
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
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return os.ReadFile(out)
}

// cgoIncludes prepares include directories for a cgo build: the headers of
// Debian build packages, unpacked into a private sysroot (never into the
// image), and header files taken from other Go modules.
func (b *Builder) cgoIncludes(ctx context.Context, g Go, lock *Lock, tmp string) ([]string, error) {
	var inc []string
	if pkgs := lock.Build[g.Name]; len(pkgs) > 0 {
		root := filepath.Join(tmp, "sysroot")
		for _, p := range pkgs {
			fp, err := b.fetchVerified(ctx, p)
			if err != nil {
				return nil, err
			}
			d, err := deb.Open(fp)
			if err != nil {
				return nil, err
			}
			err = d.Walk(func(h *tar.Header, r io.Reader) error {
				n := canonical(h.Name)
				if !strings.HasPrefix(n, "usr/include/") || h.Typeflag != tar.TypeReg {
					return nil
				}
				dst := filepath.Join(root, n)
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
				data, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				return os.WriteFile(dst, data, 0o644)
			})
			d.Close()
			if err != nil {
				return nil, fmt.Errorf("unpacking %s: %w", p.Name, err)
			}
		}
		inc = append(inc, filepath.Join(root, "usr/include"))
	}
	if len(g.Headers) > 0 {
		hdir := filepath.Join(tmp, "headers")
		for _, h := range g.Headers {
			cmd := exec.CommandContext(ctx, b.opts.GoCommand, "mod", "download", "-json", h.Module)
			cmd.Dir = tmp
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("downloading %s: %w: %s", h.Module, err, strings.TrimSpace(stderr.String()))
			}
			var info struct{ Dir string }
			if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
				return nil, fmt.Errorf("downloading %s: %w", h.Module, err)
			}
			data, err := os.ReadFile(filepath.Join(info.Dir, h.File))
			if err != nil {
				return nil, fmt.Errorf("reading %s from %s: %w", h.File, h.Module, err)
			}
			as := h.As
			if as == "" {
				as = h.File
			}
			dst := filepath.Join(hdir, as)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return nil, err
			}
		}
		inc = append(inc, hdir)
	}
	return inc, nil
}
