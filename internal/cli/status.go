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
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status [TARGET...]",
		Short: "Show the project's containers: state, health, address, ports, GPU, uptime",
		Long: `status lists the containers of the config and what the engine has of them:
state, health (berth's own check, run from the host against the
container's address), address, ports, GPU request, uptime and image.
A container whose config changed since it was created is marked with *
(up will recreate it); one the config no longer has shows as orphan.`,
		Example: `  berth status
  berth status ml --json
  berth status --watch`,
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
			for {
				rows, err := p.Status(g.ctx, project.StatusOptions{Targets: args})
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
					printStatus(g, rows)
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
