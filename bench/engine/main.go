// Command engine measures berth's up against Docker Compose v2 and the
// engine's floor on the same containers, and prints a table. Run it through
// bench/engine.sh, which builds compose and berth first.
//
// For each N it makes N containers of the static fixture image on a bridge
// network with static addresses, nothing published, with each tool in turn,
// several times, in rotating order; every run is checked (all running, each
// at its address) and removed outside the timings:
//
//   - berth (lib): the generated berth.yaml parsed and compiled, engine
//     connect, plan.Observe, plan.Compute, apply.Run — what berth up does;
//   - berth (cli): the berth binary's up on the same berth.yaml;
//   - compose: docker compose up -d on the equivalent compose file;
//   - floor: the same network create and container creates and starts made
//     directly through the moby API, as many at once as apply runs (and,
//     for reference, all at once, as compose does).
//
// Then each tool's no-op up on a running 5-container kit.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/runtime/docker"
)

// applyDefaultParallel is apply.Options.Parallel's default (apply.go); the
// floor uses it unless -parallel is given, and each run checks that berth
// really ran that many at once.
const applyDefaultParallel = 16

var (
	flagN         = flag.String("n", "5,20,50", "container counts, comma-separated")
	flagReps      = flag.Int("reps", 5, "repetitions of each first up; the table shows medians")
	flagNoopReps  = flag.Int("noop-reps", 20, "repetitions of each no-op up")
	flagNoopN     = flag.Int("noop-n", 5, "containers in the kit of the no-op up")
	flagParallel  = flag.Int("parallel", 0, "parallelism of berth's library up and of the floor (the binary keeps apply's default); 0 means apply's default")
	flagAlsoPar   = flag.String("also-parallel", "", "comma-separated parallelisms at which berth's library up is also measured (extra columns)")
	flagCompose   = flag.String("compose", "", "docker compose v2 binary (standalone docker-compose); empty leaves compose out")
	flagBerth     = flag.String("berth", "", "berth binary with an up command; empty leaves the CLI path out")
	flagSubnet    = flag.String("subnet", "10.219.0.0/16", "a /16 the benchmark may use; each workload takes a /24 in it")
	flagProfile   = flag.String("cpuprofile", "", "write a CPU profile of berth's library up (first repetition of each N) to DIR/lib-N.pprof")
	flagJSON      = flag.String("json", "", "also write every measurement to this file")
	flagWorkdir   = flag.String("workdir", "", "where generated files go; a temporary directory when empty")
	flagBreakdown = flag.Bool("breakdown", true, "print where berth's library up spends its time")
)

// variant is one way of making a workload's containers.
type variant struct {
	key   string
	title string
	up    func(ctx context.Context, w Workload) (time.Duration, error)
}

type bench struct {
	c       *client.Client
	dir     string
	image   string
	subnet  netip.Prefix
	par     int                          // apply parallelism the floor matches
	extra   []int                        // -also-parallel
	seq     int                          // workloads made so far
	used    map[int]bool                 // third octets of /24s taken in the subnet
	leaked  []string                     // networks the engine would not remove
	results map[string]map[int][]float64 // variant → N → seconds
	noop    map[string][]float64         // variant → seconds
	libRuns map[int][]libRun
	profile map[int]bool
	last    float64 // seconds of the latest measured up
	noopRun bool    // the ups now are no-ops
	counted bool    // the ups now are counted (not a warm-up)
}

func main() {
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var ns []int
	for _, f := range strings.Split(*flagN, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 200 {
			return fmt.Errorf("-n: %q is not a count from 1 to 200", f)
		}
		ns = append(ns, n)
	}
	subnet, err := netip.ParsePrefix(*flagSubnet)
	if err != nil || subnet.Bits() > 16 || !subnet.Addr().Is4() {
		return fmt.Errorf("-subnet: want an IPv4 /16 or larger, got %q", *flagSubnet)
	}
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer c.Close()
	ping, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		return fmt.Errorf("connecting to docker: %w", err)
	}
	dir := *flagWorkdir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "berth-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	image, loaded, err := loadFixture(ctx)
	if err != nil {
		return err
	}
	if loaded {
		defer removeFixture(image)
	}
	b := &bench{c: c, dir: dir, image: image, subnet: subnet, par: *flagParallel,
		results: map[string]map[int][]float64{}, noop: map[string][]float64{},
		libRuns: map[int][]libRun{}, used: map[int]bool{}, profile: map[int]bool{}}
	if b.par == 0 {
		b.par = applyDefaultParallel
	}

	variants := []variant{{key: "lib", title: "berth (lib)", up: b.libUp}}
	var extra []int
	if *flagAlsoPar != "" {
		for _, f := range strings.Split(*flagAlsoPar, ",") {
			p, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || p < 1 {
				return fmt.Errorf("-also-parallel: %q is not a positive count", f)
			}
			extra = append(extra, p)
			variants = append(variants, variant{key: fmt.Sprintf("libp%d", p), title: fmt.Sprintf("berth (lib, P=%d)", p), up: func(ctx context.Context, w Workload) (time.Duration, error) {
				r, err := berthUp(ctx, w, p)
				return r.Total, err
			}})
		}
	}
	b.extra = extra
	if *flagBerth != "" {
		variants = append(variants, variant{key: "cli", title: "berth (cli)", up: b.cliUp})
	}
	if *flagCompose != "" {
		variants = append(variants, variant{key: "compose", title: "compose", up: b.composeUp})
	}
	variants = append(variants,
		variant{key: "floor", title: fmt.Sprintf("floor (P=%d)", b.par), up: b.floorUp(b.par)},
		variant{key: "floorall", title: "floor (P=N)", up: b.floorUp(0)},
	)
	noops := []variant{{key: "lib", title: "berth (lib)", up: b.libUp}}
	if *flagBerth != "" {
		noops = append(noops, variant{key: "cli", title: "berth (cli)", up: b.cliUp})
	}
	if *flagCompose != "" {
		noops = append(noops, variant{key: "compose", title: "compose", up: b.composeUp})
	}
	// Whatever an interrupted run left goes first, and everything at the end.
	if err := b.sweep(ctx); err != nil {
		return err
	}
	defer func() {
		if err := b.sweep(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		for _, n := range b.leaked {
			fmt.Fprintf(os.Stderr, "bench: network %s keeps stale endpoints (moby#42119) and could not be removed; a restart of the Docker daemon clears it\n", n)
		}
	}()

	if len(b.leaked) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d network(s) in %s are stuck with stale endpoints (moby#42119); their /24s are skipped\n", len(b.leaked), b.subnet)
	}
	fmt.Fprintf(os.Stderr, "bench: docker API %s, image %s, reps %d, workdir %s\n", ping.APIVersion, image, *flagReps, dir)
	// A warm-up of each tool, not counted: page cache, daemon caches.
	for _, v := range variants {
		if err := b.retry(ctx, "warm-up", func() error { return b.measure(ctx, v, min(5, ns[0])) }); err != nil {
			return fmt.Errorf("warm-up of %s: %w", v.title, err)
		}
	}
	b.counted = true
	for _, n := range ns {
		for rep := range *flagReps {
			for i := range variants {
				v := variants[(i+rep)%len(variants)]
				b.profile[n] = *flagProfile != "" && rep == 0 && v.key == "lib"
				start := time.Now()
				if err := b.retry(ctx, fmt.Sprintf("%s, N=%d", v.title, n), func() error { return b.measure(ctx, v, n) }); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "bench: N=%d rep %d %-12s %.2fs\n", n, rep+1, v.title, time.Since(start).Seconds())
				b.results[v.key] = appendN(b.results[v.key], n, b.last)
			}
		}
	}
	b.counted = false
	for _, v := range noops {
		if err := b.retry(ctx, "no-op "+v.title, func() error { return b.measureNoop(ctx, v, *flagNoopN) }); err != nil {
			return err
		}
	}
	ver, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return err
	}
	header := fmt.Sprintf("Engine: Docker %s (API %s), %d CPUs; berth apply parallelism %d; image %s", ver.Version, ping.APIVersion, goruntime.NumCPU(), b.par, image)
	b.print(os.Stdout, header, ns, variants, noops)
	if *flagJSON != "" {
		data, _ := json.MarshalIndent(map[string]any{"first_up_s": b.results, "noop_s": b.noop, "lib_runs": b.libRuns, "parallel": b.par, "docker_api": ping.APIVersion}, "", "  ")
		if err := os.WriteFile(*flagJSON, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func appendN(m map[int][]float64, n int, v float64) map[int][]float64 {
	if m == nil {
		m = map[int][]float64{}
	}
	m[n] = append(m[n], v)
	return m
}

// workload returns a fresh workload for v: a name and a /24 of its own.
// A network the engine fails to remove (stale endpoints, moby#42119) then
// blocks nothing that comes after it.
func (b *bench) workload(v variant, n int) (Workload, error) {
	b.seq++
	a := b.subnet.Masked().Addr().As4()
	for oct := 1; oct < 255; oct++ {
		if b.used[oct] {
			continue
		}
		b.used[oct] = true
		a[2] = byte(oct)
		return Workload{Name: fmt.Sprintf("bb%s%d-%d", v.key, n, b.seq), N: n, Subnet: netip.PrefixFrom(netip.AddrFrom4(a), 24), Image: b.image}, nil
	}
	return Workload{}, fmt.Errorf("no free /24 left in %s", b.subnet)
}

// sweep removes every container with the bench label and every network
// in the benchmark's subnet, and marks the /24s still taken as used.
func (b *bench) sweep(ctx context.Context) error {
	if err := b.waitEngine(ctx); err != nil {
		return err
	}
	res, err := b.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", benchLabel)})
	if err != nil {
		return fmt.Errorf("sweeping: %w", err)
	}
	var ids []string
	for _, s := range res.Items {
		ids = append(ids, s.ID)
	}
	if err := removeContainers(ctx, b.c, ids); err != nil {
		return fmt.Errorf("sweeping: %w", err)
	}
	nets, err := b.c.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return fmt.Errorf("sweeping: %w", err)
	}
	b.leaked = nil
	for _, n := range nets.Items {
		for _, cfg := range n.IPAM.Config {
			if !b.subnet.Overlaps(cfg.Subnet) {
				continue
			}
			if _, err := b.c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
				b.leaked = append(b.leaked, n.Name)
				b.used[int(cfg.Subnet.Addr().As4()[2])] = true
			}
		}
	}
	return nil
}

// waitEngine waits for the engine to answer: on a shared machine another
// test may restart the daemon in the middle of a run.
func (b *bench) waitEngine(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := b.c.Ping(ctx, client.PingOptions{})
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// retry runs f up to three times, discarding a failed attempt (a daemon
// restarted by someone else, say) after the engine answers again.
func (b *bench) retry(ctx context.Context, what string, f func() error) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		first, _, _ := strings.Cut(err.Error(), "\n")
		fmt.Fprintf(os.Stderr, "bench: %s: attempt %d failed, discarded: %s\n", what, attempt, first)
		if werr := b.waitEngine(ctx); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

// measure times one first up of n containers with v, checks it and
// removes it.
func (b *bench) measure(ctx context.Context, v variant, n int) (err error) {
	w, err := b.workload(v, n)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.cleanup(context.Background(), w); err == nil {
			err = cerr
		}
	}()
	d, err := v.up(ctx, w)
	if err != nil {
		return fmt.Errorf("%s, N=%d: %w", v.title, w.N, err)
	}
	if err := verify(ctx, b.c, w); err != nil {
		return fmt.Errorf("%s, N=%d: %w", v.title, w.N, err)
	}
	b.last = d.Seconds()
	return nil
}

// measureNoop brings w up once, then times repeated ups that have nothing
// to do.
func (b *bench) measureNoop(ctx context.Context, v variant, n int) error {
	w, err := b.workload(v, n)
	if err != nil {
		return err
	}
	defer b.cleanup(context.Background(), w)
	if _, err := v.up(ctx, w); err != nil {
		return fmt.Errorf("no-op %s: first up: %w", v.title, err)
	}
	b.noopRun = true
	defer func() { b.noopRun = false }()
	b.noop[v.key] = nil // a retried attempt starts over
	for range *flagNoopReps {
		d, err := v.up(ctx, w)
		if err != nil {
			return fmt.Errorf("no-op %s: %w", v.title, err)
		}
		b.noop[v.key] = append(b.noop[v.key], d.Seconds())
	}
	fmt.Fprintf(os.Stderr, "bench: no-op %-12s done\n", v.title)
	return verify(ctx, b.c, w)
}

func (b *bench) libUp(ctx context.Context, w Workload) (time.Duration, error) {
	if b.profile[w.N] {
		f, err := os.Create(filepath.Join(*flagProfile, fmt.Sprintf("lib-%d.pprof", w.N)))
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
		b.profile[w.N] = false
	}
	r, err := berthUp(ctx, w, *flagParallel)
	if err != nil {
		return 0, err
	}
	if b.noopRun {
		if r.Ops != 0 {
			return 0, fmt.Errorf("the plan after a successful up has %d operations, want none", r.Ops)
		}
	} else if b.counted {
		b.libRuns[w.N] = append(b.libRuns[w.N], r)
	}
	return r.Total, nil
}

func (b *bench) cliUp(ctx context.Context, w Workload) (time.Duration, error) {
	wd := filepath.Join(b.dir, w.Name)
	file := filepath.Join(wd, "berth.yaml")
	if err := writeOnce(file, w.BerthYAML()); err != nil {
		return 0, err
	}
	return timeCmd(ctx, wd, *flagBerth, "-f", file, "--state-dir", filepath.Join(wd, "state"), "up")
}

func (b *bench) composeUp(ctx context.Context, w Workload) (time.Duration, error) {
	wd := filepath.Join(b.dir, w.Name)
	file := filepath.Join(wd, "compose.yaml")
	st, err := w.Desired()
	if err != nil {
		return 0, err
	}
	data, err := ComposeYAML(st, w.Name)
	if err != nil {
		return 0, err
	}
	if err := writeOnce(file, data); err != nil {
		return 0, err
	}
	return timeCmd(ctx, wd, *flagCompose, "-f", file, "-p", w.Name, "up", "-d")
}

// floorUp returns the floor variant at parallelism par; 0 means all at once.
func (b *bench) floorUp(par int) func(ctx context.Context, w Workload) (time.Duration, error) {
	return func(ctx context.Context, w Workload) (time.Duration, error) {
		st, err := w.Desired()
		if err != nil {
			return 0, err
		}
		p := par
		if p == 0 {
			p = w.N
		}
		return floorUp(ctx, b.c, st, p)
	}
}

func writeOnce(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}

// timeCmd runs a command and returns its wall time; its output is kept
// for the error only.
func timeCmd(ctx context.Context, dir, bin string, args ...string) (time.Duration, error) {
	var out strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	return d, nil
}

// tb lets the fixture package, made for tests, build and load its image.
type tb struct{ testing.TB }

func (tb) Helper()                           {}
func (tb) Fatal(args ...any)                 { panic(fixtureErr{fmt.Sprint(args...)}) }
func (tb) Fatalf(format string, args ...any) { panic(fixtureErr{fmt.Sprintf(format, args...)}) }

type fixtureErr struct{ msg string }

// loadFixture makes sure the fixture image is in the engine and says
// whether it loaded it.
func loadFixture(ctx context.Context) (ref string, loaded bool, err error) {
	e, err := docker.New(ctx)
	if err != nil {
		return "", false, err
	}
	defer e.Close()
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fixtureErr)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("fixture image: %s", fe.msg)
		}
	}()
	ref = fixture.Ref(tb{})
	// The reference names the image's digest: present means the same image.
	if _, err := e.InspectImage(ctx, ref); err == nil {
		return ref, false, nil
	}
	fixture.Load(tb{}, e)
	return ref, true, nil
}

// removeFixture removes the fixture image when this run loaded it. An
// image that a test's container uses at the same time stays.
func removeFixture(ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := docker.New(ctx)
	if err != nil {
		return
	}
	defer e.Close()
	_ = e.RemoveImage(ctx, ref)
}
