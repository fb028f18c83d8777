package cli

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/doctor"
	"github.com/voidnxlabs/berth/project"
)

func init() { register(newDoctorCmd) }

type doctorFlags struct {
	subnets  []string
	ports    []string
	paths    []string
	noEngine bool
	wantGPU  bool
	cluster  bool
}

func newDoctorCmd(g *globals) *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the engine, networks, ports, disk space and GPUs",
		Long: `doctor checks that this host can run berth's kits and prints one finding per
check (ok, warn or fail) with a one-line fix: the engine answers; each kit's
subnet is free of other routes and addresses and is masqueraded; published
ports are free; the state directory and data paths have space; the GPUs are
bound to their driver, their device nodes exist, the NVIDIA user-space
libraries match the kernel module, the CDI spec names every GPU and only
files that exist, and the engine can inject GPUs.

With a berth.yaml (./berth.yaml, -f or $BERTH_CONFIG) the subnets, published
ports, data paths and GPU needs come from it; ports that the project's own
running containers publish count as in use by berth, not as conflicts.
--subnet, --port and --path check other values instead.

It exits 1 when any check fails.`,
		Example: `  berth doctor
  berth doctor --subnet ml=192.168.200.0/24 --port ml-ollama=127.0.0.1:11434
  berth doctor --json
  berth doctor --cluster       # on a k3s node: Longhorn's prerequisites`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := project.DoctorOptions{NoEngine: f.noEngine, WantGPU: f.wantGPU, Cluster: f.cluster}
			var p *project.Project
			if _, err := os.Stat(g.configFilePath()); err == nil && len(f.subnets)+len(f.ports)+len(f.paths) == 0 {
				if p, err = g.open(); err != nil {
					return err
				}
			} else {
				// No config, or values given on the command line: check those
				// and the host alone (with the config's runtime, if any).
				if err := f.values(&o); err != nil {
					return withHint(err, ExitFailure, "run 'berth doctor --help' for the flag formats")
				}
				cfg := g.configIfAny()
				if cfg == nil {
					cfg = &config.Config{}
				}
				cfg.File = "" // the values given, not the file's
				p = project.FromConfig(cfg, g.projectOptions())
			}
			defer p.Close()
			rep, err := p.Doctor(g.ctx, o)
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				if err := g.printJSON(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprint(g.stdout, rep.String())
			}
			if rep.Failed() {
				return exitCode(ExitFailure)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.subnets, "subnet", nil, "a kit's subnet, KIT=CIDR[@BRIDGE] (BRIDGE: berth's own interface for it)")
	fl.StringArrayVar(&f.ports, "port", nil, "a published port, NAME=ADDR:PORT[/udp]")
	fl.StringArrayVar(&f.paths, "path", nil, "a data path, NAME=PATH")
	fl.BoolVar(&f.noEngine, "no-engine", false, "skip the engine check")
	fl.BoolVar(&f.wantGPU, "want-gpu", false, "fail when no GPU is found")
	fl.BoolVar(&f.cluster, "cluster", false, "also check this host as a k3s node for Longhorn (open-iscsi, iscsid, NFS client, its data path)")
	addJSON(cmd, g)
	return cmd
}

// values adds the checks the flags name to o.
func (f doctorFlags) values(o *project.DoctorOptions) error {
	for _, s := range f.subnets {
		kit, rest, ok := strings.Cut(s, "=")
		cidr, bridge, _ := strings.Cut(rest, "@")
		p, err := netip.ParsePrefix(cidr)
		if !ok || err != nil {
			return fmt.Errorf("--subnet %q: want KIT=CIDR[@BRIDGE]", s)
		}
		o.Subnets = append(o.Subnets, doctor.Subnet{Kit: kit, Prefix: p.Masked(), Bridge: bridge})
	}
	for _, s := range f.ports {
		name, rest, ok := strings.Cut(s, "=")
		addr, proto, _ := strings.Cut(rest, "/")
		ap, err := netip.ParseAddrPort(addr)
		if !ok || err != nil || (proto != "" && proto != "tcp" && proto != "udp") {
			return fmt.Errorf("--port %q: want NAME=ADDR:PORT[/udp]", s)
		}
		o.Ports = append(o.Ports, doctor.Port{Name: name, Addr: ap.Addr(), Port: ap.Port(), Proto: proto})
	}
	for i, s := range f.paths {
		name, p, ok := strings.Cut(s, "=")
		if !ok {
			name, p = "path "+strconv.Itoa(i+1), s
		}
		o.Paths = append(o.Paths, doctor.Path{Name: name, Path: p})
	}
	return nil
}
