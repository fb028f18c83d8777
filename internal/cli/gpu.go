package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/project"
)

func init() { register(newGPUCmd) }

func newGPUCmd(g *globals) *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:   "gpu",
		Short: "List this host's GPUs and what containers can receive",
		Long: `gpu prints the GPUs of this host (NVIDIA, AMD, Intel) from sysfs, procfs and,
when those are not visible, nvidia-smi: PCI address, bound driver, model,
UUID and device nodes, then the NVIDIA driver version, the device nodes with
their groups, the user-space libraries and the CDI specs.

Name GPUs in berth.yaml by UUID or PCI address, as listed here, never by
index: NVML numbers GPUs differently across reboots.`,
		Example: `  berth gpu
  berth gpu --json | jq '.gpus[].uuid'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := g.projectOptions()
			if root != "" {
				host := gpu.LocalHost()
				host.Root = root
				o.GPUHost = &host
			}
			inv, err := project.Bare(o).GPUInventory(g.ctx)
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				return g.printJSON(inv)
			}
			fmt.Fprint(g.stdout, inv.String())
			return nil
		},
	}
	// --root reads a copy of another host's /sys, /proc, /dev and /etc,
	// for bug reports and tests; it is not meant for daily use.
	cmd.Flags().StringVar(&root, "root", "", "directory that stands for / (a captured host tree)")
	_ = cmd.Flags().MarkHidden("root")
	addJSON(cmd, g)
	return cmd
}
