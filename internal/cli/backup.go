package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/backup"
	"github.com/voidnxlabs/berth/project"
)

func init() {
	register(newBackupCmd)
	register(newRestoreCmd)
}

// backupFail prints a damaged backup's problems, one a line, and turns
// the library's error into the CLI's.
func (g *globals) backupFail(err error) error {
	var ce *backup.CorruptError
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Fprintf(g.stderr, "berth: problem: %s\n", p)
		}
		return withHint(fmt.Errorf("backup %s is corrupt: %s", ce.ID, backupPlural(len(ce.Problems), "problem")), ExitFailure, project.Hint(err))
	}
	return g.fail(err)
}

// pauseHook stops berth at a named point of a backup or restore when
// BERTH_TEST_PAUSE_AT names it, after touching BERTH_TEST_PAUSE_FILE: the
// CLI scripts kill berth there to check that nothing is left half done.
func (g *globals) pauseHook() func(string) {
	at := g.getenv("BERTH_TEST_PAUSE_AT")
	if at == "" {
		return nil
	}
	return func(point string) {
		if point != at {
			return
		}
		if f := g.getenv("BERTH_TEST_PAUSE_FILE"); f != "" {
			os.WriteFile(f, []byte(point), 0o644)
		}
		<-g.ctx.Done()
	}
}

func newBackupCmd(g *globals) *cobra.Command {
	var (
		to         string
		ret        backup.Retention
		modelNames bool
		rehash     bool
	)
	cmd := &cobra.Command{
		Use:   "backup [TARGET...]",
		Short: "Back up services' data paths and databases",
		Long: `backup takes a consistent copy of each selected service (all of them when no
TARGET is given) into a backup repository: PostgreSQL with pg_dumpall from
its running container, without downtime; other services' data paths with
the service stopped for the copy and started again. Ollama's models can be
saved as a list of names to pull again (--models-as-names).

A repository (default: the state directory's backups, or --to DIR) keeps
one manifest per backup, with the size, owner, mode, time and sha256 of
every file, berth's version and the config generation, and packs of
zstd-compressed content. A content already in the repository is not stored
again, and a file with the same inode, size, mtime and ctime as in the
previous backup is not even read again (--rehash reads everything), so
backing up unchanged files costs little more than a manifest.

The new backup's ID is printed on stdout. --keep-last and --keep-daily
prune older backups afterwards.`,
		Example: `  berth backup                          # every service
  berth backup dev/postgres ml-jupyter
  berth backup --to /mnt/usb/berth --keep-last 7 --keep-daily 30
  berth backup list
  berth backup verify latest
  berth restore latest dev-postgres`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			pr := newBackupProgress(g.stderr, isTerminal(g.stderr))
			res, r, err := p.Backup(g.ctx, project.BackupOptions{Targets: args, Repo: to, Retention: ret, ModelsAsNames: modelNames, Rehash: rehash,
				Events: pr.libEvent(g), Pause: g.pauseHook()})
			pr.close()
			if err != nil {
				return g.backupFail(err)
			}
			m := res.Manifest
			files, bytes := m.Totals()
			if g.json {
				return g.printJSON(project.NewBackupInfo(m, res))
			}
			fmt.Fprintln(g.stdout, m.ID)
			fmt.Fprintf(g.stderr, "berth: backup %s: %s, %s, %s (%s new) in %s\n",
				m.ID, backupPlural(len(m.Services), "service"), backupPlural(files, "file"), byteSize(bytes), byteSize(res.Stored), r.Dir)
			if len(res.Removed) > 0 {
				fmt.Fprintf(g.stderr, "berth: pruned %s: %s\n", backupPlural(len(res.Removed), "backup"), strings.Join(res.Removed, ", "))
			}
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&to, "to", "", "backup repository directory (default: <state dir>/backups)")
	cmd.Flags().IntVar(&ret.KeepLast, "keep-last", 0, "afterwards, keep only the newest N backups (and those --keep-daily keeps)")
	cmd.Flags().IntVar(&ret.KeepDaily, "keep-daily", 0, "afterwards, keep the newest backup of each of the last N days with backups")
	cmd.Flags().BoolVar(&rehash, "rehash", false, "read and hash every file, also those unchanged (same inode, size, mtime and ctime) since the previous backup")
	cmd.Flags().BoolVar(&modelNames, "models-as-names", false, "save Ollama's models as the list of their names, to pull again, not as files")
	addJSON(cmd, g)
	cmd.AddCommand(newBackupListCmd(g, &to), newBackupVerifyCmd(g, &to), newBackupPruneCmd(g, &to))
	return cmd
}

func newBackupListCmd(g *globals, to *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the backups in the repository",
		Long: `list prints every backup of the repository, oldest first: its ID, when it
was taken, the config generation, the services, and the files and bytes it
holds. A backup whose manifest cannot be read is listed as damaged.`,
		Example: `  berth backup list
  berth backup list --to /mnt/usb/berth --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.imageProject() // backups are listed without a config too
			if err != nil {
				return err
			}
			ents, r, err := p.Backups(*to)
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				return g.printJSON(project.BackupInfos(ents))
			}
			if len(ents) == 0 {
				fmt.Fprintf(g.stderr, "berth: %s holds no backups\n", r.Dir)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tGEN\tFILES\tSIZE\tSERVICES")
			for _, e := range ents {
				if e.Err != nil {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tdamaged: %v\n", e.ID, e.Err)
					continue
				}
				m := e.Manifest
				files, bytes := m.Totals()
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", m.ID, m.Time.Local().Format("2006-01-02 15:04"), m.Generation, files, byteSize(bytes), strings.Join(m.Containers(), ","))
			}
			return tw.Flush()
		},
	}
	addJSON(cmd, g)
	return cmd
}

func newBackupVerifyCmd(g *globals, to *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify ID",
		Short: "Read a backup back in full and check every checksum",
		Long: `verify reads backup ID (or "latest") back in full: its manifest against
the manifest's checksum, every pack it uses against the checksum recorded
in the manifest, and every file's content against its sha256. Every
problem found is listed.

Exit codes: 0 intact, 1 damaged or unreadable.`,
		Example: `  berth backup verify latest
  berth backup verify 20261127-023000-1a2b --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.imageProject()
			if err != nil {
				return err
			}
			pr := newBackupProgress(g.stderr, isTerminal(g.stderr))
			res, err := p.BackupVerify(g.ctx, *to, args[0], pr.libEvent(g))
			pr.close()
			if g.json && res != nil {
				if perr := g.printJSON(res); perr != nil {
					return perr
				}
				if err != nil {
					return exitCode(ExitFailure)
				}
				return nil
			}
			if err != nil {
				return g.backupFail(err)
			}
			fmt.Fprintf(g.stderr, "berth: backup %s is intact: %s, %s, %s\n", res.ID, backupPlural(res.Files, "file"), byteSize(res.Bytes), backupPlural(res.Packs, "pack"))
			return nil
		},
	}
	addJSON(cmd, g)
	return cmd
}

func newBackupPruneCmd(g *globals, to *string) *cobra.Command {
	var ret backup.Retention
	cmd := &cobra.Command{
		Use:   "prune --keep-last N | --keep-daily N",
		Short: "Remove the backups a retention does not keep",
		Long: `prune removes the backups that neither --keep-last nor --keep-daily keeps,
then the packs no remaining backup reads from. Damaged backups are never
removed by prune, and while one is present no pack is removed.`,
		Example: `  berth backup prune --keep-last 7
  berth backup prune --keep-last 3 --keep-daily 14`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.imageProject()
			if err != nil {
				return err
			}
			removed, err := p.BackupPrune(*to, ret)
			if err != nil {
				return g.backupFail(err)
			}
			if g.json {
				return g.printJSON(struct {
					Removed []string `json:"removed"`
				}{removed})
			}
			for _, id := range removed {
				fmt.Fprintln(g.stdout, id)
			}
			fmt.Fprintf(g.stderr, "berth: pruned %s\n", backupPlural(len(removed), "backup"))
			return nil
		},
	}
	cmd.Flags().IntVar(&ret.KeepLast, "keep-last", 0, "keep the newest N backups")
	cmd.Flags().IntVar(&ret.KeepDaily, "keep-daily", 0, "keep the newest backup of each of the last N days with backups")
	addJSON(cmd, g)
	return cmd
}

func newRestoreCmd(g *globals) *cobra.Command {
	var (
		from        string
		recoverOnly bool
	)
	cmd := &cobra.Command{
		Use:   "restore ID [TARGET...]",
		Short: "Put services' data back from a backup",
		Long: `restore puts back the services of backup ID (or "latest") that TARGETs
select, or every service the backup holds.

The whole backup is verified first; a damaged one is refused before
anything is touched. Each data path is rebuilt beside itself (PostgreSQL by
loading the dump into a fresh cluster in a throwaway container), the
service is stopped, the rebuilt content swapped in with one rename, and the
service started again. The previous content is kept aside until the
service is healthy, then removed; if the service does not become healthy,
the previous content is put back.

A berth killed during a restore leaves the previous content in place or
aside; the next backup or restore of that service, or restore --recover,
puts it back.`,
		Example: `  berth restore latest
  berth restore 20261127-023000-1a2b dev/postgres
  berth restore latest ml-jupyter --from /mnt/usb/berth
  berth restore --recover`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !recoverOnly && len(args) == 0 {
				return withHint(errors.New("restore needs a backup ID"), ExitFailure, "'berth backup list' shows them; 'latest' is the newest")
			}
			id := ""
			if !recoverOnly {
				id, args = args[0], args[1:]
			}
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			pr := newBackupProgress(g.stderr, isTerminal(g.stderr))
			res, err := p.Restore(g.ctx, project.RestoreOptions{ID: id, Recover: recoverOnly, Targets: args, Repo: from, Events: pr.libEvent(g), Pause: g.pauseHook()})
			pr.close()
			if err != nil {
				return g.backupFail(err)
			}
			if recoverOnly {
				fmt.Fprintf(g.stderr, "berth: nothing left half done\n")
				return nil
			}
			if g.json {
				return g.printJSON(res)
			}
			for _, s := range res.Services {
				how := "left stopped, as it was"
				if s.Started {
					how = "running and healthy"
				}
				fmt.Fprintf(g.stderr, "berth: restored %s from %s: %s, %s; %s\n", s.Container, res.ID, backupPlural(s.Files, "file"), byteSize(s.Bytes), how)
				for _, model := range s.Models {
					fmt.Fprintf(g.stderr, "berth: hint: pull %s again: berth ollama pull %s\n", model, model)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "backup repository directory (default: <state dir>/backups)")
	cmd.Flags().StringVar(&from, "to", "", "same as --from")
	_ = cmd.Flags().MarkHidden("to")
	cmd.Flags().BoolVar(&recoverOnly, "recover", false, "only undo what an interrupted backup or restore left")
	addJSON(cmd, g)
	return cmd
}

// backupProgress draws backup events: a live line with the bytes copied on
// a terminal, one line per step otherwise.
type backupProgress struct {
	w    io.Writer
	tty  bool
	live bool
	last time.Time
}

func newBackupProgress(w io.Writer, tty bool) *backupProgress { return &backupProgress{w: w, tty: tty} }

func (p *backupProgress) event(ev backup.Event) {
	if ev.Kind == backup.EventProgress {
		if !p.tty || (time.Since(p.last) < 100*time.Millisecond && ev.Done < ev.Total) {
			return
		}
		p.last = time.Now()
		pct := int64(100)
		if ev.Total > 0 {
			pct = ev.Done * 100 / ev.Total
		}
		fmt.Fprintf(p.w, "\r\x1b[2K%s %s: %s of %s (%d%%)", ev.Container, ev.Path, byteSize(ev.Done), byteSize(ev.Total), pct)
		p.live = true
		return
	}
	p.clear()
	var text string
	switch ev.Kind {
	case backup.EventService:
		text = ev.Msg
	case backup.EventStop:
		text = "stopped"
	case backup.EventStart:
		text = "started"
	case backup.EventSwap:
		text = "restored content in place; the previous kept aside until healthy"
	case backup.EventHealthy:
		text = "healthy; the previous content removed"
	case backup.EventWarning:
		text = "warning: " + ev.Path + ": " + ev.Msg
	case backup.EventRecover:
		text = ev.Msg
		if ev.Path != "" {
			text = ev.Path + ": " + text
		}
	default:
		text = ev.Kind + " " + ev.Msg
	}
	fmt.Fprintf(p.w, "berth: %s: %s\n", ev.Container, text)
}

// libEvent shows the library's events: backup steps through event, the
// rest as every command does.
func (p *backupProgress) libEvent(g *globals) func(project.Event) {
	return func(ev project.Event) {
		if ev.Kind == project.EventBackup && ev.Backup != nil {
			p.event(*ev.Backup)
			return
		}
		p.clear()
		g.printEvent(ev)
	}
}

func (p *backupProgress) clear() {
	if p.live {
		fmt.Fprint(p.w, "\r\x1b[2K")
		p.live = false
	}
}

func (p *backupProgress) close() { p.clear() }

// backupPlural writes n and noun, with an s unless n is 1.
func backupPlural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
