package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/project"
	pcluster "github.com/voidnxlabs/berth/project/cluster"
)

func init() { register(newClusterCmd) }

// clusterFlags are the options the cluster commands share.
type clusterFlags struct {
	kubeconfig string
	namespace  string
	domain     string
	sizes      []string
	storage    string
}

func newClusterCmd(g *globals) *cobra.Command {
	f := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run the same kits on k3s (Kubernetes) with Longhorn storage",
		Long: `cluster renders berth.yaml as Kubernetes objects and applies them with
server-side apply (field manager "berth"): per service a StatefulSet (when it
keeps data) or Deployment, a Service, PersistentVolumeClaims on the longhorn
storage class, Secrets for generated credentials, a NetworkPolicy per kit in
place of its private network, GPU limits with runtimeClassName nvidia, and an
Ingress per web service for k3s's Traefik (which takes dev-proxy's place).

The kubeconfig is --kubeconfig, else $KUBECONFIG, else
/etc/rancher/k3s/k3s.yaml, else ~/.kube/config. Objects go to the namespace
named after the project unless --namespace says otherwise.`,
		Example: `  berth cluster render -o manifests/
  berth cluster diff
  berth cluster apply && berth cluster status
  berth cluster prune
  berth cluster bootstrap -o k3s/ --server https://10.0.0.2:6443 --token-file /root/k3s-token`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, /etc/rancher/k3s/k3s.yaml, ~/.kube/config)")
	pf.StringVarP(&f.namespace, "namespace", "n", "", "namespace of every object (default: the project name)")
	pf.StringVar(&f.domain, "domain", "", "DNS suffix of Ingress hosts: <container>.<domain> (default: localhost)")
	pf.StringVar(&f.storage, "storage-class", "", "storage class of every claim (default: "+cluster.StorageClass+"; local-path on a k3s without Longhorn)")
	pf.StringArrayVar(&f.sizes, "volume-size", nil, "size of a data path's claim, OPTION=SIZE (ml.ollama.modelsPath=200Gi); repeatable")
	cmd.AddCommand(newClusterRenderCmd(g, f), newClusterDiffCmd(g, f), newClusterApplyCmd(g, f),
		newClusterStatusCmd(g, f), newClusterPruneCmd(g, f), newClusterBootstrapCmd(g, f),
		newClusterLoadCmd(g, f), newClusterLogsCmd(g, f), newClusterExecCmd(g, f))
	return cmd
}

// clusterUse opens the project (printing its config's problems) and binds
// it to the cluster the flags name.
func (g *globals) clusterUse(f *clusterFlags) (*pcluster.Cluster, error) {
	o, err := f.options(g)
	if err != nil {
		return nil, err
	}
	p, err := g.open()
	if err != nil {
		return nil, err
	}
	return pcluster.New(p, o), nil
}

// options are the library's options from the flags.
func (f *clusterFlags) options(g *globals) (pcluster.Options, error) {
	o := pcluster.Options{Kubeconfig: f.kubeconfig, Namespace: f.namespace, Domain: f.domain, StorageClass: f.storage,
		VolumeSizes: map[string]string{}, Getenv: g.getenv}
	for _, s := range f.sizes {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" || v == "" {
			return o, withHint(fmt.Errorf("--volume-size %q: want OPTION=SIZE", s), ExitFailure, "for example --volume-size ml.ollama.modelsPath=200Gi")
		}
		o.VolumeSizes[k] = v
	}
	return o, nil
}

// clusterFail is fail for the cluster's errors: one that did not reach the
// API server is exit code 3, as an engine that does not answer.
func (g *globals) clusterFail(err error) error {
	if errors.Is(err, cluster.ErrUnreachable) {
		return withHint(err, ExitUnreachable, project.Hint(err))
	}
	return g.fail(err)
}

func (g *globals) notes(m *cluster.Manifest) {
	if m == nil {
		return
	}
	for _, n := range m.Notes {
		fmt.Fprintf(g.stderr, "berth: note: %s\n", n)
	}
}

func newClusterRenderCmd(g *globals, f *clusterFlags) *cobra.Command {
	var dir string
	var secrets bool
	cmd := &cobra.Command{
		Use:   "render [TARGET...]",
		Short: "Print the Kubernetes objects of the config (or write them to a directory)",
		Long: `render prints the Kubernetes objects of the enabled services as one YAML
stream, in apply order; -o DIR writes one file per object instead, numbered
so that 'kubectl apply -f DIR' keeps the order. The output depends only on
the config: rendering twice gives the same bytes.

Generated credentials are rendered as placeholders unless --secrets reads
them from the state directory (Secret files are then written with mode 0600).`,
		Example: `  berth cluster render
  berth cluster render ml -o manifests/
  berth cluster render dev/postgres --namespace db`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.clusterUse(f)
			if err != nil {
				return err
			}
			m, err := c.Render(g.ctx, pcluster.RenderOptions{Targets: args, Secrets: secrets})
			if err != nil {
				return g.fail(err)
			}
			g.notes(m)
			if dir != "" {
				paths, err := m.WriteDir(dir)
				if err != nil {
					return withHint(err, ExitFailure, "")
				}
				fmt.Fprintf(g.stderr, "berth: wrote %d objects to %s\n", len(paths), dir)
				return nil
			}
			y, err := m.YAML()
			if err != nil {
				return withHint(err, ExitFailure, "")
			}
			_, err = g.stdout.Write(y)
			return err
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "", "write one file per object into DIR")
	cmd.Flags().BoolVar(&secrets, "secrets", false, "fill in generated credentials from the state directory")
	return cmd
}

func printChanges(g *globals, chs []cluster.Change, verbose bool) (changed int) {
	for _, c := range chs {
		if c.Action == cluster.Unchanged {
			continue
		}
		changed++
		fmt.Fprintf(g.stdout, "%-9s %s\n", c.Action, c.Ref)
		if verbose {
			for _, fl := range c.Fields {
				fmt.Fprintf(g.stdout, "            %s\n", fl)
			}
		}
	}
	return changed
}

func newClusterDiffCmd(g *globals, f *clusterFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what cluster apply and prune would change",
		Long: `diff asks the API server for a dry run of every apply and compares the result
with the live objects, so defaults and validation are the server's own. It
lists objects to create, change (with each changed field) and prune.

Exit code 0 when the cluster matches the config, 2 when changes are pending.`,
		Example: `  berth cluster diff
  berth cluster diff --json | jq '.[] | select(.Action != "unchanged")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.clusterUse(f)
			if err != nil {
				return err
			}
			d, err := c.Diff(g.ctx, pcluster.DiffOptions{Force: force})
			if err != nil {
				return g.clusterFail(err)
			}
			if g.json {
				if err := g.printJSON(d.Changes); err != nil {
					return err
				}
			} else if printChanges(g, d.Changes, true) == 0 {
				fmt.Fprintln(g.stderr, "berth: the cluster matches the config")
			}
			if d.Pending > 0 {
				return exitCode(ExitChanges)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force-conflicts", false, "diff as an apply that takes over fields of other managers")
	addJSON(cmd, g)
	return cmd
}

func newClusterApplyCmd(g *globals, f *clusterFlags) *cobra.Command {
	var force, prune, volumes bool
	cmd := &cobra.Command{
		Use:   "apply [TARGET...]",
		Short: "Make the cluster match the config (server-side apply)",
		Long: `apply renders the config and applies every object with server-side apply as
field manager "berth", namespace first. A field that another manager owns
(a replica count set by 'kubectl scale', say) stops the apply with the list
of conflicting fields; --force-conflicts takes them over.

It prints each object it created or changed; unchanged objects are quiet.
--prune then removes what berth owns and no longer renders (not with
TARGETs: a partial render would prune the rest).`,
		Example: `  berth cluster apply
  berth cluster apply ml/ollama
  berth cluster apply --prune
  berth cluster apply --force-conflicts`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.clusterUse(f)
			if err != nil {
				return err
			}
			res, err := c.Apply(g.ctx, pcluster.ApplyOptions{Targets: args, Force: force, Prune: prune, Volumes: volumes})
			if res != nil {
				g.notes(res.Manifest)
				printChanges(g, res.Changes, false)
			}
			if err != nil {
				return g.clusterFail(err)
			}
			fmt.Fprintf(g.stderr, "berth: %d of %d objects changed in namespace %s on %s\n", res.Changed, res.Objects, res.Namespace, res.Host)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force-conflicts", false, "take over fields that other managers own")
	cmd.Flags().BoolVar(&prune, "prune", false, "then remove objects berth owns and no longer renders")
	cmd.Flags().BoolVar(&volumes, "volumes", false, "with --prune, also remove claims (and their data)")
	return cmd
}

func newClusterPruneCmd(g *globals, f *clusterFlags) *cobra.Command {
	var volumes, dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove cluster objects berth owns and no longer renders",
		Long: `prune lists the objects in the namespace that carry berth's labels for this
project and removes those the config no longer renders: a disabled service's
workload, Service, Ingress and Secrets. Claims, and the data on them, stay
unless --volumes is given. The namespace is never removed.`,
		Example: `  berth cluster prune --dry-run
  berth cluster prune
  berth cluster prune --volumes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.clusterUse(f)
			if err != nil {
				return err
			}
			pr, err := c.Prune(g.ctx, pcluster.PruneOptions{Volumes: volumes, DryRun: dryRun})
			printChanges(g, pr, false)
			if err != nil {
				return g.clusterFail(err)
			}
			if len(pr) == 0 {
				fmt.Fprintln(g.stderr, "berth: nothing to prune")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&volumes, "volumes", false, "also remove claims no longer rendered, and their data")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed, remove nothing")
	return cmd
}

func newClusterStatusCmd(g *globals, f *clusterFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [TARGET...]",
		Short: "Show rollout state, claims and failing pods on the cluster",
		Long: `status shows, for each rendered workload, its ready and wanted replicas;
each pod's readiness, container state (running, waiting: CrashLoopBackOff,
terminated with its exit code) and restarts; for each claim whether it is
bound; and for pods that are not ready, why (scheduling, image pulls) with
their latest warning events.`,
		Example: `  berth cluster status
  berth cluster status ml --json`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.clusterUse(f)
			if err != nil {
				return err
			}
			st, err := c.Status(g.ctx, args)
			if err != nil {
				return g.clusterFail(err)
			}
			if g.json {
				return g.printJSON(st)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKLOAD\tREADY\tUP-TO-DATE")
			for _, w := range st.Workloads {
				if !w.Present {
					fmt.Fprintf(tw, "%s\tmissing\t-\n", w.Ref)
					continue
				}
				fmt.Fprintf(tw, "%s\t%d/%d\t%d\n", w.Ref, w.Ready, w.Replicas, w.Updated)
			}
			if len(st.Pods) > 0 {
				fmt.Fprintln(tw, "\nPOD\tREADY\tSTATE\tRESTARTS\tIP")
				for _, p := range st.Pods {
					ready := "no"
					if p.Ready {
						ready = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.Name, ready, p.State, p.Restarts, p.IP)
				}
			}
			if len(st.Claims) > 0 {
				fmt.Fprintln(tw, "\nCLAIM\tPHASE\tVOLUME")
				for _, cl := range st.Claims {
					phase := cl.Phase
					if !cl.Present {
						phase = "missing"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", cl.Name, phase, cl.Volume)
				}
			}
			tw.Flush()
			for _, w := range st.Workloads {
				for _, p := range w.Pods {
					fmt.Fprintf(g.stdout, "\npod %s: %s", p.Name, p.Phase)
					if p.Reason != "" {
						fmt.Fprintf(g.stdout, " (%s)", p.Reason)
					}
					fmt.Fprintln(g.stdout)
					for _, e := range p.Events {
						fmt.Fprintf(g.stdout, "  %s\n", e)
					}
				}
			}
			return nil
		},
	}
	addJSON(cmd, g)
	return cmd
}

func newClusterBootstrapCmd(g *globals, f *clusterFlags) *cobra.Command {
	var opts cluster.BootstrapOptions
	var dir string
	var apply bool
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Write k3s server/agent configs and the Longhorn and NVIDIA add-ons",
		Long: `bootstrap writes what a k3s cluster needs to run berth's kits:
  server-config.yaml  /etc/rancher/k3s/config.yaml of a server (token file,
                      node labels, local-storage disabled for Longhorn)
  agent-config.yaml   the same for an agent joining --server
  addons.yaml         HelmChart objects (k3s's helm controller) installing
                      Longhorn as the default storage class and the NVIDIA
                      device plugin on GPU nodes, and the nvidia RuntimeClass;
                      drop it into /var/lib/rancher/k3s/server/manifests/
Without -o, addons.yaml is printed. --apply applies the add-ons to the
running cluster instead (server-side apply, as cluster apply does).

Longhorn needs open-iscsi and an NFS client on every node.`,
		Example: `  berth cluster bootstrap -o k3s/ --gpu --replicas 1
  berth cluster bootstrap -o k3s/ --server https://10.0.0.2:6443 --token-file /etc/rancher/k3s/cluster-token
  berth cluster bootstrap --apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(g)
			if err != nil {
				return err
			}
			b, err := pcluster.New(nil, o).Bootstrap(g.ctx, pcluster.BootstrapOptions{BootstrapOptions: opts, Apply: apply})
			if b != nil {
				printChanges(g, b.Changes, false)
			}
			if err != nil {
				return g.clusterFail(err)
			}
			if apply {
				return nil
			}
			if dir != "" {
				paths, err := b.WriteDir(dir)
				if err != nil {
					return withHint(err, ExitFailure, "")
				}
				for _, p := range paths {
					fmt.Fprintln(g.stdout, p)
				}
				return nil
			}
			y, err := b.Manifest.YAML()
			if err != nil {
				return withHint(err, ExitFailure, "")
			}
			_, err = g.stdout.Write(y)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&dir, "output", "o", "", "write server-config.yaml, agent-config.yaml and addons.yaml into DIR")
	fl.BoolVar(&apply, "apply", false, "apply the add-ons to the running cluster")
	fl.StringVar(&opts.Server, "server", "", "URL agents join, https://HOST:6443")
	fl.StringVar(&opts.TokenFile, "token-file", "", "cluster token file on each node (default /etc/rancher/k3s/cluster-token)")
	fl.BoolVar(&opts.GPU, "gpu", false, "label the node as a GPU node ("+cluster.GPUNodeLabel+"=true)")
	fl.StringArrayVar(&opts.NodeLabels, "node-label", nil, "extra node label KEY=VALUE; repeatable")
	fl.IntVar(&opts.Replicas, "replicas", 3, "Longhorn replicas per volume (1 on a single node)")
	fl.StringVar(&opts.DataPath, "data-path", "/var/lib/longhorn", "where Longhorn keeps volume data on each node")
	fl.StringVar(&opts.LonghornVersion, "longhorn-version", cluster.LonghornVersion, "Longhorn chart version")
	fl.StringVar(&opts.DevicePluginVersion, "device-plugin-version", cluster.DevicePluginVersion, "NVIDIA device plugin chart version")
	return cmd
}

func newClusterLoadCmd(g *globals, f *clusterFlags) *cobra.Command {
	var address, ctr string
	cmd := &cobra.Command{
		Use:   "load [IMAGE...]",
		Short: "Import berth-built images into the node's containerd (no registry)",
		Long: `load imports images that 'berth image build' made into this node's
containerd, in the k8s.io namespace the kubelet reads, so that pods start
without a registry (berth renders imagePullPolicy IfNotPresent). Without
IMAGEs it loads every built image an enabled service uses. An image the node
already holds at the same digest is skipped.

It runs 'k3s ctr' on a k3s node, else containerd's 'ctr'; --containerd names
another socket. On a cluster of several nodes run it on each, or push the
images to a registry instead ('berth image push NAME --tag REG/NAME:TAG')
and name that image in berth.yaml.`,
		Example: `  berth image build postgres-dev && berth cluster load postgres-dev
  berth cluster load
  berth cluster load --containerd /run/containerd/containerd.sock ollama`,
		RunE: func(cmd *cobra.Command, args []string) error {
			n := &cluster.NodeImages{Address: address}
			if ctr != "" {
				n.Ctr = strings.Fields(ctr)
			}
			c, err := g.clusterLoadUse(f, args)
			if err != nil {
				return err
			}
			loaded, err := c.Load(g.ctx, pcluster.LoadOptions{Images: args, Node: n})
			for _, l := range loaded {
				what := "loaded"
				if !l.Loaded {
					what = "present"
				}
				fmt.Fprintf(g.stdout, "%s\t%s\t%s\n", what, l.Ref, l.Digest)
			}
			if err != nil {
				return g.fail(err)
			}
			if len(args) == 0 && len(loaded) == 0 {
				fmt.Fprintln(g.stderr, "berth: no built image is used by an enabled service; name images to load")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&address, "containerd", "", "containerd socket (default: ctr's, or k3s's on a k3s node)")
	cmd.Flags().StringVar(&ctr, "ctr", "", `the ctr command (default: "k3s ctr" when k3s is installed, else "ctr")`)
	return cmd
}

// clusterLoadUse is clusterUse for load: named images need no config.
func (g *globals) clusterLoadUse(f *clusterFlags, names []string) (*pcluster.Cluster, error) {
	if len(names) == 0 {
		return g.clusterUse(f)
	}
	o, err := f.options(g)
	if err != nil {
		return nil, err
	}
	return pcluster.New(project.Bare(g.projectOptions()), o), nil
}

func newClusterLogsCmd(g *globals, f *clusterFlags) *cobra.Command {
	var o cluster.LogOptions
	cmd := &cobra.Command{
		Use:   "logs SERVICE",
		Short: "Stream a service's log from its pod over the API server",
		Long: `logs prints the log of the service's container in its pod (a ready pod
first when there are several), as the kubelet keeps it. --follow streams
until interrupted; --previous reads the container that crashed last.`,
		Example: `  berth cluster logs dev/postgres
  berth cluster logs ml-ollama --follow --tail 20`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.clusterUse(f)
			if err != nil {
				return err
			}
			return g.clusterFail(c.Logs(g.ctx, args[0], o, g.stdout))
		},
	}
	// -f is --follow here, as in berth logs: the config file takes the long
	// --file, defined locally so that the global -f shorthand does not
	// clash (cobra panics on a shorthand defined twice); a -f before the
	// command's name is still the config file (hoistFile).
	cmd.Flags().StringVar(&g.configFile, "file", "", "config file (as the global -f)")
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep streaming new lines")
	cmd.Flags().Int64Var(&o.Tail, "tail", 0, "only the last N lines (0: all)")
	cmd.Flags().BoolVar(&o.Previous, "previous", false, "the log of the previous (crashed) container")
	cmd.Flags().BoolVar(&o.Timestamps, "timestamps", false, "prefix lines with their time")
	return cmd
}

func newClusterExecCmd(g *globals, f *clusterFlags) *cobra.Command {
	var interactive, tty bool
	cmd := &cobra.Command{
		Use:   "exec SERVICE [--] CMD [ARG...]",
		Short: "Run a command in a service's pod over the API server; its exit code becomes berth's",
		Long: `exec runs CMD in the service's container in its pod (a ready pod first),
through the API server (WebSocket, or SPDY on older servers), and exits with
CMD's exit code. -i copies standard input; -t allocates a terminal.`,
		Example: `  berth cluster exec dev/postgres -- psql -U postgres -c 'select 6*7'
  berth cluster exec -it ml-jupyter -- bash`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags end at SERVICE (SetInterspersed(false)), so a '--'
			// after it reaches args: it separates, it is not the command.
			argv := args[1:]
			if argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return withHint(errors.New("cluster exec needs a command to run"), ExitFailure,
					fmt.Sprintf("for example 'berth cluster exec %s -- ls /'", args[0]))
			}
			c, err := g.clusterUse(f)
			if err != nil {
				return err
			}
			eo := cluster.ExecOptions{Stdout: g.stdout, Stderr: g.stderr, TTY: tty}
			if interactive {
				eo.Stdin = g.stdin
			}
			if tty {
				t, err := openTerminal(g.stdin, g.stdout, interactive)
				if err != nil {
					return err
				}
				defer t.Close()
				eo.Resize = t.resize
			}
			err = c.Exec(g.ctx, args[0], argv, eo)
			if ee := (*cluster.ExitError)(nil); errors.As(err, &ee) {
				return exitCode(ee.Code)
			}
			return g.clusterFail(err)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "copy berth's standard input to the command")
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "allocate a terminal")
	return cmd
}
