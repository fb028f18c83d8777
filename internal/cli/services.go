package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/ollama"
	"github.com/voidnxlabs/berth/pgsql"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/project"
)

func init() {
	register(newOllamaCmd)
	register(newPsqlCmd)
	register(newURLCmd)
	register(newJupyterCmd)
	register(newSecretCmd)
	register(newProxyCmd)
}

func newOllamaCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ollama",
		Short: "Manage Ollama's models through its API (list, ps, pull, create, run, rm)",
		Long: `The ollama commands talk to ml-ollama's HTTP API at its private address,
as the seed's ollama-list alias does; the container needs no client.`,
		Example: `  berth ollama list
  berth ollama pull llama3.2:1b
  berth ollama create tiny ./tiny.gguf
  berth ollama run tiny "Why is the sky blue?"
  berth ollama ps --json
  berth ollama rm tiny`,
	}
	progress := func() func(ollama.Progress) {
		last := ""
		return func(p ollama.Progress) {
			if p.Status != last {
				fmt.Fprintf(g.stderr, "berth: %s\n", p.Status)
				last = p.Status
			}
		}
	}
	listCmd := func(use, short string, ps bool) *cobra.Command {
		c := &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			Example: "  berth ollama " + use + "\n  berth ollama " + use + " --json",
			RunE: func(cmd *cobra.Command, args []string) error {
				p, err := g.open()
				if err != nil {
					return err
				}
				defer p.Close()
				ms, err := p.OllamaModels(g.ctx, ps)
				if err != nil {
					return g.fail(err)
				}
				if g.json {
					return g.printJSON(ms)
				}
				rows := [][]string{{"NAME", "ID", "SIZE", "MODIFIED"}}
				if ps {
					rows[0][3] = "UNTIL"
				}
				for _, m := range ms {
					id := strings.TrimPrefix(m.Digest, "sha256:")
					if len(id) > 12 {
						id = id[:12]
					}
					when := humanAge(m.ModifiedAt)
					if ps {
						when = m.ExpiresAt.Local().Format(time.TimeOnly)
					}
					rows = append(rows, []string{m.Name, id, byteSize(m.Size), when})
				}
				writeRows(g.stdout, rows)
				return nil
			},
		}
		addJSON(c, g)
		return c
	}
	pull := &cobra.Command{
		Use: "pull MODEL", Short: "Download a model from its registry", Args: cobra.ExactArgs(1),
		Example: "  berth ollama pull llama3.2:1b",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			return g.fail(p.OllamaPull(g.ctx, args[0], progress()))
		},
	}
	var system, template string
	create := &cobra.Command{
		Use: "create MODEL FILE.gguf", Short: "Make a model from a local GGUF file", Args: cobra.ExactArgs(2),
		Long: `create uploads a GGUF file to Ollama as a blob and registers a model made
from it; nothing is downloaded from anywhere.`,
		Example: "  berth ollama create tiny ./tiny.gguf\n  berth ollama create helper model.gguf --system 'You answer briefly.'",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			return g.fail(p.OllamaCreate(g.ctx, args[0], args[1], ollama.CreateOptions{System: system, Template: template}, progress()))
		},
	}
	create.Flags().StringVar(&system, "system", "", "system prompt of the model")
	create.Flags().StringVar(&template, "template", "", "prompt template (Go template, as in a Modelfile)")
	var temp float64
	var seed, numPredict int
	run := &cobra.Command{
		Use: "run MODEL [PROMPT...]", Short: "Ask a model; the prompt comes from the arguments or stdin", Args: cobra.MinimumNArgs(1),
		Long: `run sends one chat message to a model and prints the answer as it streams
in. Without a prompt in the arguments it reads one from stdin.`,
		Example: "  berth ollama run tiny 'say hello'\n  echo 'say hello' | berth ollama run tiny --temperature 0 --seed 1",
		RunE: func(cmd *cobra.Command, args []string) error {
			prompt := strings.Join(args[1:], " ")
			if prompt == "" {
				b, err := io.ReadAll(g.stdin)
				if err != nil {
					return err
				}
				prompt = strings.TrimSpace(string(b))
			}
			if prompt == "" {
				return withHint(errors.New("no prompt"), ExitFailure, "give it after the model name or on stdin")
			}
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			opts := ollama.ChatOptions{Seed: seed, NumPredict: numPredict}
			if cmd.Flags().Changed("temperature") {
				opts.Temperature = &temp
			}
			answered := false
			err = p.OllamaChat(g.ctx, args[0], []ollama.Message{{Role: "user", Content: prompt}}, opts, func(tok string) {
				answered = true
				fmt.Fprint(g.stdout, tok)
			})
			if answered || err == nil {
				fmt.Fprintln(g.stdout)
			}
			return g.fail(err)
		},
	}
	run.Flags().Float64Var(&temp, "temperature", 0.8, "sampling temperature; 0 gives the same answer every time")
	run.Flags().IntVar(&seed, "seed", 0, "random seed")
	run.Flags().IntVar(&numPredict, "num-predict", 0, "most tokens to generate (0: the model's default)")
	rm := &cobra.Command{
		Use: "rm MODEL...", Short: "Remove models", Args: cobra.MinimumNArgs(1),
		Example: "  berth ollama rm tiny",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			return g.fail(p.OllamaRemove(g.ctx, args...))
		},
	}
	cmd.AddCommand(listCmd("list", "List the models Ollama has (the seed's ollama-list)", false),
		listCmd("ps", "List the models loaded in memory", true), pull, create, run, rm)
	return cmd
}

func newPsqlCmd(g *globals) *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:   "psql [DB] [-- PSQL-ARGS...]",
		Short: "Run psql in dev-postgres with the generated password (the seed's dev-pg-psql)",
		Long: `psql runs PostgreSQL's client inside dev-postgres, connected over TCP to
the server with the password berth generated, so there is no prompt and
the password is checked. DB defaults to the config's POSTGRES_DB (dev).
Arguments after -- go to psql.`,
		Example: `  berth psql
  berth psql dev -- -c 'select version()'
  berth psql postgres -- -At -c 'select 6*7'
  berth psql -- -f - < schema.sql`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			var db string
			var extra []string
			if dash >= 0 {
				if dash > 1 {
					return withHint(errors.New("too many arguments before --"), ExitFailure, "berth psql [DB] [-- PSQL-ARGS...]")
				}
				if dash == 1 {
					db = args[0]
				}
				extra = args[dash:]
			} else if len(args) == 1 {
				db = args[0]
			}
			return g.psql(db, user, extra)
		},
	}
	// Everything after -- is psql's.
	cmd.Args = cobra.ArbitraryArgs
	cmd.Flags().StringVarP(&user, "user", "U", "", "database user (default: the config's POSTGRES_USER, postgres)")
	return cmd
}

func (g *globals) psql(db, user string, extra []string) error {
	p, err := g.open()
	if err != nil {
		return err
	}
	defer p.Close()
	err = p.Psql(g.ctx, project.PsqlOptions{Database: db, User: user, Args: extra,
		TTY: len(extra) == 0 && isTerminal(g.stdin) && isTerminal(g.stdout), Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr})
	if ee := (*pgsql.ExitError)(nil); errors.As(err, &ee) && !errors.Is(err, pgsql.ErrAuth) && !errors.Is(err, pgsql.ErrNoDatabase) {
		return exitCode(ee.Code) // psql already said why
	}
	return g.fail(err)
}

func newURLCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "url [NAME...]",
		Short: "Print the addresses of services: private address and names through the proxy",
		Long: `url prints where each service answers: its private address on the kit
network, and, when the dev proxy is enabled, its name through the proxy
(<service>.<kit>.localhost, which browsers resolve to this machine) and
its path route (/<kit>/<service>/). NAME is a container, a kit, a
kit/service or a stack; none means every service.`,
		Example: `  berth url
  berth url ml-ollama
  berth url ml/jupyter --json`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			us, err := p.URLs(args)
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				return g.printJSON(us)
			}
			rows := [][]string{{"NAME", "ADDRESS", "PROXY", "PATH"}}
			for _, u := range us {
				rows = append(rows, []string{u.Name, u.Direct, dashIfEmpty(u.Proxy), dashIfEmpty(u.ProxyPath)})
			}
			writeRows(g.stdout, rows)
			return nil
		},
	}
	addJSON(cmd, g)
	return cmd
}

func newJupyterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "jupyter",
		Short:   "Jupyter helpers",
		Example: "  berth jupyter url",
	}
	var service string
	var direct bool
	url := &cobra.Command{
		Use:   "url",
		Short: "Print Jupyter's address with its login token",
		Long: `url prints the address of ml-jupyter with the token berth generated, ready
to open: through the proxy when it is enabled, else the private address.`,
		Example: "  berth jupyter url\n  berth jupyter url --direct\n  berth jupyter url --service dev/dev-ml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			u, err := p.JupyterURL(project.JupyterOptions{Service: service, Direct: direct})
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				return g.printJSON(u)
			}
			fmt.Fprintln(g.stdout, u.URL)
			return nil
		},
	}
	url.Flags().StringVar(&service, "service", "ml/jupyter", "the Jupyter service, KIT/SERVICE")
	url.Flags().BoolVar(&direct, "direct", false, "the private address, not the proxy's name")
	addJSON(url, g)
	cmd.AddCommand(url)
	return cmd
}

func newSecretCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Show or rotate the credentials berth generated",
		Long: `berth generates the PostgreSQL password, the Jupyter tokens and the
code-server password once, keeps them in the state directory (mode 0600)
and passes them to the containers; they never appear in plan, status,
labels or logs. Names: postgres-password, jupyter-token, dev-ml-token,
code-server-password.`,
		Example: "  berth secret list\n  berth secret show postgres-password\n  berth secret rotate jupyter-token",
	}
	list := &cobra.Command{
		Use: "list", Short: "List the secrets the config uses and who uses them", Args: cobra.NoArgs,
		Example: "  berth secret list --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			rows, err := p.Secrets()
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				return g.printJSON(rows)
			}
			out := [][]string{{"NAME", "USED BY"}}
			for _, r := range rows {
				out = append(out, []string{r.Name, strings.Join(r.UsedBy, ",")})
			}
			writeRows(g.stdout, out)
			return nil
		},
	}
	addJSON(list, g)
	show := &cobra.Command{
		Use: "show NAME", Short: "Print one secret", Args: cobra.ExactArgs(1),
		Example: "  berth secret show postgres-password",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			v, err := p.SecretShow(args[0])
			if err != nil {
				return g.fail(err)
			}
			fmt.Fprintln(g.stdout, v)
			return nil
		},
	}
	var noWait bool
	var timeout time.Duration
	rotate := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Replace a secret and recreate the services that use it",
		Long: `rotate makes a new value, stores it, and recreates the containers that
receive it. For postgres-password the role's password is changed in the
running server first (over its local socket), since PostgreSQL reads
POSTGRES_PASSWORD only when it creates the cluster.`,
		Example: "  berth secret rotate code-server-password",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			return g.converge(plan.ActionUp, func(events func(project.Event)) (*project.RunResult, error) {
				return p.SecretRotate(g.ctx, project.SecretRotateOptions{Name: args[0], Wait: !noWait, Timeout: timeout, Events: events})
			})
		},
	}
	rotate.Flags().BoolVar(&noWait, "no-wait", false, "do not wait for the recreated services to be healthy")
	rotate.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for each recreated service")
	cmd.AddCommand(list, show, rotate)
	return cmd
}

func humanAge(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func newProxyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Show or reload the dev proxy's Caddy configuration",
		Long: `The dev proxy (Caddy) gives every enabled service of every kit a name,
<service>.<kit>.localhost, and a path, /<kit>/<service>/, over HTTP on
httpPort and HTTPS on httpsPort (Caddy's internal CA). Its configuration
is made from berth.yaml and loaded through Caddy's admin API, on a socket
in the proxy's data path; a reload keeps open connections.`,
		Example: "  berth proxy routes\n  berth proxy config > caddy.json\n  berth proxy reload",
	}
	routes := &cobra.Command{
		Use: "routes", Short: "List the names and paths the proxy serves", Args: cobra.NoArgs,
		Example: "  berth proxy routes --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			rs, err := p.ProxyRoutes()
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				return g.printJSON(rs)
			}
			rows := [][]string{{"HOST", "PATH", "UPSTREAM"}}
			for _, r := range rs {
				rows = append(rows, []string{r.Host, r.Path, r.Upstream})
			}
			writeRows(g.stdout, rows)
			return nil
		},
	}
	addJSON(routes, g)
	config := &cobra.Command{
		Use: "config", Short: "Print the Caddy configuration (JSON) made from berth.yaml", Args: cobra.NoArgs,
		Example: "  berth proxy config | jq .apps.http.servers",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			b, err := p.ProxyConfig()
			if err != nil {
				return g.fail(err)
			}
			fmt.Fprintln(g.stdout, string(b))
			return nil
		},
	}
	var timeout time.Duration
	reload := &cobra.Command{
		Use:   "reload",
		Short: "Write the configuration and load it into the running proxy",
		Long: `reload writes the configuration where the proxy resumes from on its next
start and, when it runs, loads it through the admin API without dropping
connections.`,
		Example: "  berth proxy reload",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			res, err := p.ProxyReload(g.ctx, timeout)
			if err != nil {
				return g.fail(err)
			}
			if !res.Running {
				fmt.Fprintf(g.stderr, "berth: %s is not running; it starts with the new configuration\n", res.Container)
				return nil
			}
			fmt.Fprintf(g.stderr, "berth: %s: %d routes loaded\n", res.Container, res.Routes)
			return nil
		},
	}
	reload.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the proxy's admin API")
	cmd.AddCommand(routes, config, reload)
	return cmd
}
