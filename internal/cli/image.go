package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/image/deb"
	"github.com/voidnxlabs/berth/internal/termsafe"
	"github.com/voidnxlabs/berth/project"
)

func init() { register(newImageCmd) }

// imageFlags are the options shared by the image commands.
type imageFlags struct {
	all              bool
	load             bool
	relock, locked   bool
	offline          bool
	ignoreValidUntil bool
	tag              string
	keyrings         []string
}

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build reproducible images from recipes; list, load, push and lock them",
		Long: `Images are built from recipes: Debian packages resolved from the archive's
signed indexes and pinned in a lockfile, users, directories, files and Go
programs. The same lockfile gives the same image digest.

` + wrapText("Recipes are the built-in ones ("+builtinNames()+`) and those under "images:" in berth.yaml, which override a built-in of the same name. Locks are kept in images.lock/ next to berth.yaml (in the state directory without one), built images in the state directory, downloads in $XDG_CACHE_HOME/berth.`, 76),
		Example: `  berth image build redis            # build one image
  berth image build --all --load     # build every recipe, load into the engine
  berth image list --json
  berth image push redis --tag 127.0.0.1:5000/redis:7`,
	}
	f := &imageFlags{}
	cmd.AddCommand(newImageBuildCmd(g, f), newImageListCmd(g), newImageLoadCmd(g), newImagePushCmd(g, f), newImageLockCmd(g, f))
	cmd.PersistentFlags().StringSliceVar(&f.keyrings, "keyring", nil, "OpenPGP keyring(s) that sign the archive (default: "+deb.DefaultKeyring+")")
	return cmd
}

// imageProject is the project the image commands work on: berth.yaml's
// when there is one (its recipes override the built-in ones), else the
// built-in recipes alone.
func (g *globals) imageProject() (*project.Project, error) {
	if _, err := os.Stat(g.configFilePath()); err != nil {
		return project.Bare(g.projectOptions()), nil
	}
	return g.open()
}

// builderOptions are the image flags as the library's options.
func (f *imageFlags) builderOptions() project.BuilderOptions {
	return project.BuilderOptions{Relock: f.relock, Locked: f.locked, Offline: f.offline, IgnoreValidUntil: f.ignoreValidUntil, Keyrings: f.keyrings}
}

// recipeErrors prints every recipe problem as file:line:col and ends the
// command as a config error does.
func (g *globals) recipeErrors(file string, err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		fmt.Fprintf(g.stderr, "berth: error: %s:%s\n", file, e)
	}
	fmt.Fprintf(g.stderr, "berth: %s: %d problem(s) in images, nothing was done\n", file, len(list))
	return exitCode(ExitChanges)
}

// progress renders build events on stderr. On a terminal it keeps one
// line, redrawn in place; elsewhere (make demo > log, CI) it prints a line
// when a build enters a new step. Either way a line comes at least every
// 30 s while a build runs, with the recipe, the step and the elapsed time,
// so that a cold build never looks stalled. Substitutions are always
// printed on a line of their own.
func (g *globals) progress() func(image.Event) {
	if g.buildProgress == nil {
		g.buildProgress = newBuildProgress(g.stderr, isTerminal(g.stderr))
	}
	return g.buildProgress.event
}

// buildProgress is the renderer behind progress.
type buildProgress struct {
	w   io.Writer
	tty bool
	now func() time.Time

	mu        sync.Mutex
	began     map[string]time.Time // first event per image
	last      image.Event          // the latest event of the running build
	lastAt    time.Time
	key       string // the step last printed (non-tty)
	printedAt time.Time
	active    bool
	ticking   bool
}

// quiet is the longest a running build stays without a line.
const quiet = 25 * time.Second

func newBuildProgress(w io.Writer, tty bool) *buildProgress {
	return &buildProgress{w: w, tty: tty, now: time.Now, began: map[string]time.Time{}}
}

func (p *buildProgress) event(e image.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if _, ok := p.began[e.Image]; !ok {
		p.began[e.Image] = now
	}
	el := now.Sub(p.began[e.Image]).Round(time.Second)
	switch e.Stage {
	case "done":
		p.active = false
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K")
		} else {
			fmt.Fprintf(p.w, "berth: image %s: built in %s\n", e.Image, el)
		}
		return
	case "substitute":
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K")
		}
		fmt.Fprintf(p.w, "berth: image %s: %s: substitute: %s\n", e.Image, termsafe.Line(e.Item), termsafe.Line(e.Message))
		return
	}
	p.last, p.lastAt, p.active = e, now, true
	if !p.ticking {
		p.ticking = true
		go p.tick()
	}
	if p.tty {
		line := buildLine(e, el)
		if len(line) > 100 {
			line = line[:99] + "…"
		}
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	// One line per step; the bytes of a download or the packages of a
	// fetch are a step, a Go or npm program another.
	stage := e.Stage
	if stage == "download" {
		// Downloads interleave with the fetch of each package: one step.
		stage = "fetch"
	}
	key := e.Image + "\x00" + stage
	if e.Stage == "go" || e.Stage == "npm" {
		key += "\x00" + e.Item
	}
	if key != p.key || now.Sub(p.printedAt) >= quiet {
		p.key, p.printedAt = key, now
		fmt.Fprintf(p.w, "berth: %s\n", buildLine(e, el))
	}
}

// tick prints the running build's step when nothing was printed for a
// while (a layer of 300 MB being compressed sends no event), until the
// build is done or has sent nothing for ten minutes.
func (p *buildProgress) tick() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		now := p.now()
		if !p.active || now.Sub(p.lastAt) > 10*time.Minute {
			p.ticking = false
			p.mu.Unlock()
			return
		}
		el := now.Sub(p.began[p.last.Image]).Round(time.Second)
		if p.tty {
			line := buildLine(p.last, el)
			if len(line) > 100 {
				line = line[:99] + "…"
			}
			fmt.Fprintf(p.w, "\r\033[K%s", line)
		} else if now.Sub(p.printedAt) >= quiet {
			p.printedAt = now
			fmt.Fprintf(p.w, "berth: %s (still running)\n", buildLine(p.last, el))
		}
		p.mu.Unlock()
	}
}

// buildLine describes one build event: image, step, counts, elapsed.
func buildLine(e image.Event, el time.Duration) string {
	line := fmt.Sprintf("image %s: %s", e.Image, e.Stage)
	if e.Item != "" {
		line += " " + e.Item
	}
	switch {
	case (e.Stage == "fetch" || e.Stage == "download") && e.Total > 0:
		line += fmt.Sprintf(" %s/%s", byteSize(e.Done), byteSize(e.Total))
	case e.Total > 0:
		line += fmt.Sprintf(" (%d/%d)", e.Done+1, e.Total)
	}
	if e.Message != "" {
		line += ": " + e.Message
	}
	line += fmt.Sprintf(" [%s]", el)
	if e.Output != "" {
		line += " last: " + e.Output
	}
	// Item, Message and Output come from package names, archives and
	// compiler or npm output: never raw on a terminal.
	return termsafe.Line(line)
}

// builtinNames lists the built-in recipes for the help, from the
// catalog itself so the help cannot drift from 'berth image list'.
func builtinNames() string {
	var names []string
	for n := range image.Builtin() {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// wrapText breaks s into lines of at most width columns at spaces.
func wrapText(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		if n > 0 && n+1+len(w) > width {
			b.WriteString("\n")
			n = 0
		} else if n > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

func newImageBuildCmd(g *globals, f *imageFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "build [--all | NAME...]",
		Short: "Build images from their recipes",
		Long: `Build resolves each recipe (or reuses its lock), verifies every index and
package against the archive's signature and checksums, and writes an OCI
layout tarball that docker load also accepts. A second build from the
same lock gives the same digest and needs no network.`,
		Example: `  berth image build redis postgres-dev
  berth image build --all --load
  SOURCE_DATE_EPOCH=1700000000 berth image build app
  berth image build --locked --offline redis   # from the lock and cache only`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.imageProject()
			if err != nil {
				return err
			}
			defer p.Close()
			recs, err := p.ImageBuild(g.ctx, project.ImageBuildOptions{Names: args, All: f.all, Load: f.load, Builder: f.builderOptions(),
				Events: func(ev project.Event) {
					if ev.Kind == project.EventNotice && g.json {
						return
					}
					g.printEvent(ev)
				}})
			if err != nil {
				return g.fail(err)
			}
			if !g.json {
				for _, rec := range recs {
					fmt.Fprintf(g.stdout, "%s\t%s\t%s\t%s\n", rec.Ref, rec.Digest, byteSize(rec.Size), rec.Tarball)
				}
			}
			if g.json {
				return g.printJSON(recs)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.all, "all", false, "build every recipe")
	fl.BoolVar(&f.load, "load", false, "load each image into the engine after building it")
	fl.BoolVar(&f.relock, "relock", false, "resolve packages again instead of using the lock")
	fl.BoolVar(&f.locked, "locked", false, "fail if a lock is missing or does not match its recipe")
	fl.BoolVar(&f.offline, "offline", false, "use only the lock and the download cache")
	fl.BoolVar(&f.ignoreValidUntil, "ignore-valid-until", false, "accept expired Release files (snapshot mirrors)")
	addJSON(cmd, g)
	return cmd
}

func newImageListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recipes and the images built from them",
		Example: `  berth image list
  berth image list --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.imageProject()
			if err != nil {
				return err
			}
			rows, err := p.Images()
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				return g.printJSON(rows)
			}
			out := [][]string{{"NAME", "ORIGIN", "LOCKED", "SIZE", "DIGEST"}}
			for _, r := range rows {
				origin, locked, size, dg := r.Origin, "no", "-", "-"
				if origin != "builtin" {
					origin = "config"
				}
				if r.Locked {
					locked = "yes"
				}
				if r.Digest != "" {
					size, dg = byteSize(r.Size), r.Digest[:19]
				}
				out = append(out, []string{r.Name, origin, locked, size, dg})
			}
			// Columns as wide as the longest name (pytorch-notebook).
			writeRows(g.stdout, out)
			return nil
		},
	}
	addJSON(cmd, g)
	return cmd
}

func newImageLoadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "load NAME...",
		Short:   "Load built images into the engine",
		Example: `  berth image build redis && berth image load redis`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.imageProject()
			if err != nil {
				return err
			}
			defer p.Close()
			recs, err := p.ImageLoad(g.ctx, args)
			for _, rec := range recs {
				fmt.Fprintf(g.stdout, "%s\t%s\n", rec.Ref, rec.Digest)
			}
			return g.fail(err)
		},
	}
}

func newImagePushCmd(g *globals, f *imageFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "push NAME --tag REF",
		Short: "Push a built image to a registry",
		Long: `Push uploads a built image under REF, with the credentials of the Docker
config (docker login), or anonymously. Registries on 127.0.0.0/8 are
reached over plain HTTP.`,
		Example: `  berth image push redis --tag ghcr.io/me/redis:7.0
  berth image push app --tag 127.0.0.1:5000/app:dev`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.tag == "" {
				return withHint(errors.New("no --tag given"), ExitFailure, "give the reference to push to, e.g. --tag ghcr.io/me/"+args[0]+":latest")
			}
			p, err := g.imageProject()
			if err != nil {
				return err
			}
			rec, err := p.ImagePush(g.ctx, args[0], f.tag)
			if err != nil {
				return g.fail(err)
			}
			fmt.Fprintf(g.stdout, "%s@%s\n", strings.SplitN(f.tag, "@", 2)[0], rec.Digest)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.tag, "tag", "", "reference to push to (registry/repository:tag)")
	return cmd
}

func newImageLockCmd(g *globals, f *imageFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock [--all | NAME...]",
		Short: "Resolve recipes again and rewrite their locks",
		Long: `Lock resolves each recipe against the archive's current signed indexes and
rewrites its lock, picking up security updates. The next build uses the
new lock.`,
		Example: `  berth image lock redis
  berth image lock --all && git diff images.lock/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.imageProject()
			if err != nil {
				return err
			}
			locks, err := p.ImageLock(g.ctx, project.ImageBuildOptions{Names: args, All: f.all, Builder: f.builderOptions(), Events: g.printEvent})
			for _, l := range locks {
				fmt.Fprintf(g.stdout, "%s\t%d packages\t%s\n", l.Name, l.Packages, l.Path)
			}
			return g.fail(err)
		},
	}
	cmd.Flags().BoolVar(&f.all, "all", false, "lock every recipe")
	cmd.Flags().BoolVar(&f.ignoreValidUntil, "ignore-valid-until", false, "accept expired Release files (snapshot mirrors)")
	return cmd
}
