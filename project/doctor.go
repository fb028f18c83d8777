package project

import (
	"context"
	"net/netip"

	"github.com/voidnxlabs/berth/doctor"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/runtime"
)

// DoctorOptions tune Doctor.
type DoctorOptions struct {
	// NoEngine skips the engine check (and so the project's own bridges
	// and ports, which only the engine knows).
	NoEngine bool
	// WantGPU fails when no GPU is found; a service whose GPU request is
	// not optional asks for it too.
	WantGPU bool
	// Cluster also checks this host as a k3s node for Longhorn.
	Cluster bool
	// Subnets, Ports and Paths, when any is set, are checked instead of
	// the config's (berth doctor --subnet, --port, --path); a project
	// without a config file (Bare) checks only these and the host.
	Subnets []doctor.Subnet
	Ports   []doctor.Port
	Paths   []doctor.Path
}

// Doctor checks that this host can run the project: the engine answers;
// each kit's subnet is free and masqueraded; published ports are free;
// the state directory and data paths have space; the GPUs the project
// needs are usable. What the project already runs is berth's own: its
// bridges and the ports its containers publish are not conflicts. The
// report's Failed says whether any check failed.
func (p *Project) Doctor(ctx context.Context, o DoctorOptions) (doctor.Report, error) {
	opts := doctorBase(p.gpuHost(), p.StateRoot(), o)
	if len(o.Subnets)+len(o.Ports)+len(o.Paths) > 0 || p.cfg.File == "" {
		opts.Subnets = append(opts.Subnets, o.Subnets...)
		opts.Ports = append(opts.Ports, o.Ports...)
		opts.Paths = append(opts.Paths, o.Paths...)
		if !o.NoEngine {
			opts.Engine = p.engineInfo
		}
		return doctor.Run(ctx, opts), nil
	}
	if err := p.doctorOptions(ctx, &opts, o.NoEngine); err != nil {
		return doctor.Report{}, err
	}
	return doctor.Run(ctx, opts), nil
}

// doctorBase are the checks of the host alone, without a project: the
// state directory, GPUs and, with o.Cluster, Longhorn's data path.
func doctorBase(host gpu.Host, stateRoot string, o DoctorOptions) doctor.Options {
	opts := doctor.Options{Host: host, GPU: true, WantGPU: o.WantGPU, Cluster: o.Cluster}
	if o.Cluster {
		opts.Paths = append(opts.Paths, doctor.Path{Name: "longhorn data", Path: doctor.LonghornDataPath})
	}
	opts.Paths = append(opts.Paths, doctor.Path{Name: "state", Path: stateRoot})
	return opts
}

// engineInfo connects to the engine and asks it about itself.
func (p *Project) engineInfo(ctx context.Context) (runtime.Info, error) {
	e, err := p.Engine(ctx)
	if err != nil {
		return runtime.Info{}, err
	}
	return e.Info(ctx)
}

// doctorOptions fills the doctor's subnets, ports, paths, GPU need and
// engine check from the project.
func (p *Project) doctorOptions(ctx context.Context, opts *doctor.Options, noEngine bool) error {
	st, err := p.DesiredOffline(nil)
	if err != nil {
		return err
	}
	bridges := map[string]string{}
	ours := map[string]bool{}
	if !noEngine {
		opts.Engine = p.engineInfo
		if e, err := p.Engine(ctx); err == nil {
			owned := map[string]string{runtime.LabelProject: p.cfg.Project}
			if ns, err := e.ListNetworks(ctx, owned); err == nil {
				for _, n := range ns {
					if n.Bridge != "" {
						bridges[n.Name] = n.Bridge
					}
				}
			}
			if cs, err := e.ListContainers(ctx, owned); err == nil {
				for _, c := range cs {
					if c.State != runtime.StateRunning {
						continue
					}
					for _, port := range c.Ports {
						ours[netip.AddrPortFrom(port.HostIP, port.HostPort).String()+"/"+port.Protocol] = true
					}
				}
			}
		}
	}
	for _, n := range st.Networks {
		opts.Subnets = append(opts.Subnets, doctor.Subnet{Kit: n.Kit, Prefix: n.Spec.Subnet, Bridge: bridges[n.Spec.Name]})
	}
	for _, c := range st.Containers {
		for _, port := range c.Spec.Ports {
			proto := port.Protocol
			if proto == "" {
				proto = "tcp"
			}
			if ours[netip.AddrPortFrom(port.HostIP, port.HostPort).String()+"/"+proto] {
				continue
			}
			opts.Ports = append(opts.Ports, doctor.Port{Name: c.Spec.Name, Addr: port.HostIP, Port: port.HostPort, Proto: proto})
		}
		for _, d := range c.DataPaths {
			opts.Paths = append(opts.Paths, doctor.Path{Name: d.Option, Path: d.Host})
		}
		if c.GPU != nil && !c.GPU.Optional {
			opts.WantGPU = true
		}
	}
	return nil
}
