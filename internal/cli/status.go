package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
)

func init() { register(newStatusCmd) }

func newStatusCmd(g *globals) *cobra.Command {
	var watch, usage bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status [TARGET...]",
		Short: "Show the project's containers: state, health, address, ports, GPU, uptime",
		Long: `status lists the containers of the config and what the engine has of them:
state, health (berth's own check, run from the host against the
container's address), address, ports, GPU request, uptime and image.
A container whose config changed since it was created is marked with *
(up will recreate it); one the config no longer has shows as orphan.

--usage adds what each running container uses: its restarts by the engine,
CPU (the share of one core since the last refresh with --watch, else the
CPU time since it started), memory without reclaimable page cache, and
processes, as docker stats counts them.`,
		Example: `  berth status
  berth status ml --json
  berth status --watch
  berth status --usage --watch --interval 5s`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if watch && interval <= 0 {
				return withHint(fmt.Errorf("--interval %s is not a positive duration", interval), ExitFailure, "for example --interval 5s")
			}
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			var prev map[string]sample
			for {
				rows, err := p.Status(g.ctx, project.StatusOptions{Targets: args, Usage: usage})
				if err != nil {
					return g.fail(err)
				}
				if g.json {
					if err := g.printJSON(rows); err != nil {
						return err
					}
				} else {
					if watch && isTerminal(g.stdout) {
						fmt.Fprint(g.stdout, "\x1b[H\x1b[2J")
					}
					if usage {
						prev = printUsage(g, rows, prev)
					} else {
						printStatus(g, rows)
					}
				}
				if !watch {
					return nil
				}
				select {
				case <-g.ctx.Done():
					return nil
				case <-time.After(interval):
				}
				if !isTerminal(g.stdout) && !g.json {
					fmt.Fprintln(g.stdout)
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().BoolVar(&usage, "usage", false, "show restarts, CPU, memory and processes of running containers")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between refreshes with --watch")
	addJSON(cmd, g)
	return cmd
}

func printStatus(g *globals, rows []project.ContainerStatus) {
	if len(rows) == 0 {
		fmt.Fprintln(g.stderr, "berth: no containers in the config; enable a kit or service and run 'berth up'")
		return
	}
	// The LIMITS column appears only when some container has limits.
	limits := false
	for _, r := range rows {
		limits = limits || limitString(r.Resources) != ""
	}
	head := []string{"NAME", "KIT", "STATE", "HEALTH", "ADDRESS", "PORTS", "GPU", "UPTIME", "IMAGE"}
	if limits {
		head = append(head, "LIMITS")
	}
	out := [][]string{head}
	for _, r := range rows {
		st := r.State
		if r.State == runtime.StateExited {
			st += " (" + strconv.Itoa(r.ExitCode) + ")"
		}
		if !r.UpToDate && r.State != project.StateMissing && r.State != project.StateOrphan {
			st += "*"
		}
		addr := "-"
		if r.Address.IsValid() {
			addr = r.Address.String()
		}
		row := []string{r.Name, dashIfEmpty(r.Kit), st, r.Health, addr, dashIfEmpty(strings.Join(r.Ports, ",")),
			dashIfEmpty(r.GPU), dashIfEmpty(r.Uptime), r.Image}
		if limits {
			row = append(row, dashIfEmpty(limitString(r.Resources)))
		}
		out = append(out, row)
	}
	writeRows(g.stdout, out)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// limitString prints resource limits compactly: mem=4GiB,cpus=2,pids=512.
// The engine's default shm size (64 MiB) is not a limit anyone set, so
// only other sizes show.
func limitString(r runtime.Resources) string {
	var parts []string
	if r.MemoryBytes > 0 {
		parts = append(parts, "mem="+desired.FormatBytes(r.MemoryBytes))
	}
	if r.NanoCPUs > 0 {
		parts = append(parts, "cpus="+strconv.FormatFloat(float64(r.NanoCPUs)/1e9, 'f', -1, 64))
	}
	if r.ShmBytes > 0 && r.ShmBytes != 64<<20 {
		parts = append(parts, "shm="+desired.FormatBytes(r.ShmBytes))
	}
	if r.PidsLimit > 0 {
		parts = append(parts, "pids="+strconv.FormatInt(r.PidsLimit, 10))
	}
	return strings.Join(parts, ",")
}

// sample is one container's CPU time at one moment, for the CPU share
// between two refreshes.
type sample struct {
	cpu float64
	at  time.Time
}

// printUsage prints the usage table and returns the samples the next
// refresh computes CPU shares from.
func printUsage(g *globals, rows []project.ContainerStatus, prev map[string]sample) map[string]sample {
	now := time.Now()
	next := map[string]sample{}
	out := [][]string{{"NAME", "STATE", "HEALTH", "RESTARTS", "CPU", "MEM", "PIDS", "MEM LIMIT"}}
	for _, r := range rows {
		cpu, mem, pids := "-", "-", "-"
		if u := r.Usage; u != nil {
			next[r.Name] = sample{u.CPUSeconds, now}
			if p, ok := prev[r.Name]; ok && now.After(p.at) && u.CPUSeconds >= p.cpu {
				cpu = strconv.FormatFloat((u.CPUSeconds-p.cpu)/now.Sub(p.at).Seconds()*100, 'f', 1, 64) + "%"
			} else {
				cpu = (time.Duration(u.CPUSeconds * float64(time.Second))).Round(10 * time.Millisecond).String()
			}
			mem = desired.FormatBytes(int64(u.MemoryBytes))
			pids = strconv.FormatUint(u.PIDs, 10)
		}
		limit := "-"
		if r.Resources.MemoryBytes > 0 {
			limit = desired.FormatBytes(r.Resources.MemoryBytes)
		}
		out = append(out, []string{r.Name, r.State, r.Health, strconv.Itoa(r.Restarts), cpu, mem, pids, limit})
	}
	writeRows(g.stdout, out)
	return next
}
