package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/web"
)

func init() { register(newServeCmd) }

type serveFlags struct {
	listen          string
	expose          bool
	tlsCert, tlsKey string
	hosts           []string
	printToken      bool
}

func newServeCmd(g *globals) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the web app: dashboard, plan and apply, logs, terminal, chat; JSON API and metrics",
		Long: `serve runs a web app over the project in berth.yaml: the overview (live),
plan and apply with generations and rollback, merged logs, a terminal in
any running container, images, backups, GPUs, doctor, and a chat page for
the stack's Ollama and OpenAI-compatible services. The same actions are a
JSON API (/api/openapi.json describes it) and /metrics is for Prometheus.

It prints the address to open; the address carries a token (kept 0600 in
the project's state directory, secrets/serve-token) that signs the browser
in. Every request needs the token; the API takes it as 'Authorization:
Bearer TOKEN', and --print-token prints it.

serve listens on 127.0.0.1 only. Any other address needs --expose (whoever
reaches it can run commands in the containers) and then uses TLS: the
certificate given with --tls-cert and --tls-key, else one signed by a CA
of berth's own whose certificate serve prints, to trust once.`,
		Example: `  berth serve
  berth serve --listen 127.0.0.1:8080
  berth serve --listen 0.0.0.0:7443 --expose --host workstation.lan
  berth serve --listen 192.168.1.20:7443 --expose --tls-cert cert.pem --tls-key key.pem
  curl -H "Authorization: Bearer $(berth serve --print-token)" http://127.0.0.1:7070/api/status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := web.ParseListen(f.listen, f.expose)
			if errors.Is(err, web.ErrExposed) {
				return withHint(err, ExitFailure, "add --expose to serve beyond this machine (over TLS), or listen on 127.0.0.1 and tunnel: ssh -L 7070:127.0.0.1:7070 HOST")
			}
			if err != nil {
				return withHint(err, ExitFailure, "for example --listen 127.0.0.1:7070")
			}
			if (f.tlsCert != "") != (f.tlsKey != "") {
				return withHint(errors.New("--tls-cert and --tls-key go together"), ExitFailure, "give both, or neither for berth's own CA")
			}
			return g.serve(l, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7070", "address to listen on, HOST:PORT")
	fl.BoolVar(&f.expose, "expose", false, "allow an address other than loopback (serves over TLS)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "certificate file (PEM) for TLS")
	fl.StringVar(&f.tlsKey, "tls-key", "", "key file (PEM) of --tls-cert")
	fl.StringArrayVar(&f.hosts, "host", nil, "another host name the server is reached by (repeatable)")
	fl.BoolVar(&f.printToken, "print-token", false, "print the token for API clients and exit")
	return cmd
}

func (g *globals) serve(l web.Listen, f serveFlags) error {
	p, err := g.open()
	if err != nil {
		return err
	}
	defer p.Close()
	opts := g.projectOptions()
	sd, err := p.StateDir()
	if err != nil {
		return g.fail(err)
	}
	token, err := web.Token(sd)
	if err != nil {
		return err
	}
	if f.printToken {
		fmt.Fprintln(g.stdout, token)
		return nil
	}
	// One engine connection for the server's life: the projects opened
	// again after berth.yaml changes share it.
	eng, err := p.Engine(g.ctx)
	if err != nil {
		return g.fail(err)
	}
	opts.Engine = eng
	reopen := func(ctx context.Context) (*project.Project, error) { return project.Open(ctx, opts) }
	names := l.Names(f.hosts)
	useTLS := !l.Loopback || f.tlsCert != ""
	var tc *tls.Config
	if useTLS {
		if f.tlsCert != "" {
			tc, err = web.TLSFiles(f.tlsCert, f.tlsKey)
		} else {
			var ca string
			tc, ca, err = web.InternalCA(filepath.Join(sd.Path(), "serve-ca"), names)
			if err == nil {
				fmt.Fprintf(g.stderr, "berth: the certificate is signed by berth's own CA; trust %s once in the browser\n", ca)
			}
		}
		if err != nil {
			return withHint(err, ExitFailure, "check the files, or leave out --tls-cert and --tls-key for berth's own CA")
		}
	}
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return withHint(fmt.Errorf("listening on %s: %w", l.Addr, err), ExitFailure, "pick another port with --listen 127.0.0.1:PORT")
	}
	l.Port = ln.Addr().(*net.TCPAddr).Port // --listen 127.0.0.1:0 picks one
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	srv, err := web.New(web.Options{Project: p, Reopen: reopen, Token: token, Listen: l, Names: names, TLS: useTLS})
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintln(g.stdout, srv.URL())
	fmt.Fprintf(g.stderr, "berth: serving project %s; open the address above (Ctrl-C stops)\n", p.Config().Project)
	return srv.Serve(g.ctx, ln)
}
