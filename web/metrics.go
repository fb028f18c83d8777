package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
)

// metrics is /metrics: the project's containers as the engine and berth's
// health checks see them at scrape time, and what this server did (actions
// with their durations and results, terminal sessions, chats). A registry
// of its own keeps it apart from anything else in the process.
type metrics struct {
	s   *Server
	reg *prometheus.Registry

	actions   *prometheus.HistogramVec
	terminals prometheus.Counter
	chats     *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{s: s, reg: prometheus.NewRegistry()}
	m.actions = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "berth_action_duration_seconds", Help: "Duration of up, down, start, stop, restart and rollback run through berth serve, by result.",
		Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"action", "result"})
	m.terminals = prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_terminal_sessions_total", Help: "Terminal sessions opened through berth serve."})
	m.chats = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "berth_chat_duration_seconds", Help: "Duration of chat answers streamed through berth serve, by service and result.",
		Buckets: []float64{.25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"service", "result"})
	m.reg.MustRegister(m.actions, m.terminals, m.chats, (*projectCollector)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (m *metrics) ran(action string, d time.Duration, err error) {
	m.actions.WithLabelValues(action, result(err)).Observe(d.Seconds())
}

func (m *metrics) terminal() { m.terminals.Inc() }

func (m *metrics) chatted(service string, d time.Duration, err error) {
	m.chats.WithLabelValues(service, result(err)).Observe(d.Seconds())
}

// observe is called with each status the live overview takes; scrapes take
// their own, so nothing is kept.
func (m *metrics) observe([]project.ContainerStatus) {}

// projectCollector reads the project at scrape time.
type projectCollector metrics

var (
	descUp      = prometheus.NewDesc("berth_container_up", "1 when the container runs.", []string{"container", "kit", "state"}, nil)
	descHealthy = prometheus.NewDesc("berth_container_healthy", "1 when berth's health check passes, 0 when it fails or the container does not run.", []string{"container", "kit", "health"}, nil)
	descCurrent = prometheus.NewDesc("berth_container_up_to_date", "1 when the container was made from the current config (no * in berth status).", []string{"container", "kit"}, nil)
	descMemory  = prometheus.NewDesc("berth_container_memory_limit_bytes", "The container's memory limit; absent when unlimited.", []string{"container", "kit"}, nil)
	descCPUs    = prometheus.NewDesc("berth_container_cpu_limit", "The container's CPU limit in CPUs; absent when unlimited.", []string{"container", "kit"}, nil)
	descStarted = prometheus.NewDesc("berth_container_started_timestamp_seconds", "When the running container started.", []string{"container", "kit"}, nil)
	descGen     = prometheus.NewDesc("berth_generation", "The number of the current generation.", nil, nil)
	descGenTime = prometheus.NewDesc("berth_generation_timestamp_seconds", "When the current generation was applied.", nil, nil)
	descRestart = prometheus.NewDesc("berth_container_restarts_total", "Restarts of the container by the engine under its restart policy since it was created.", []string{"container", "kit"}, nil)
	descCPU     = prometheus.NewDesc("berth_container_cpu_seconds_total", "CPU time the running container's processes used since it started, summed over cores.", []string{"container", "kit"}, nil)
	descMemUsed = prometheus.NewDesc("berth_container_memory_bytes", "Memory the running container uses, without reclaimable page cache.", []string{"container", "kit"}, nil)
	descPIDs    = prometheus.NewDesc("berth_container_pids", "Processes and threads in the running container.", []string{"container", "kit"}, nil)
	descBackup  = prometheus.NewDesc("berth_backup_last_timestamp_seconds", "When the newest intact backup holding the container was taken.", []string{"container"}, nil)
	descBackups = prometheus.NewDesc("berth_backups", "Backups in the repository, damaged ones included.", nil, nil)
	descScrape  = prometheus.NewDesc("berth_scrape_error", "1 when the engine did not answer the scrape's status.", nil, nil)
)

func (c *projectCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descHealthy, descCurrent, descMemory, descCPUs, descStarted, descRestart, descCPU, descMemUsed, descPIDs, descBackup, descBackups, descGen, descGenTime, descScrape} {
		ch <- d
	}
}

func (c *projectCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := c.s.proj().Status(ctx, project.StatusOptions{Usage: true})
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descScrape, prometheus.GaugeValue, 1)
	} else {
		ch <- prometheus.MustNewConstMetric(descScrape, prometheus.GaugeValue, 0)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, b(r.State == runtime.StateRunning), r.Name, r.Kit, r.State)
		ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, b(r.Health == "healthy"), r.Name, r.Kit, r.Health)
		ch <- prometheus.MustNewConstMetric(descCurrent, prometheus.GaugeValue, b(r.UpToDate), r.Name, r.Kit)
		if r.Resources.MemoryBytes > 0 {
			ch <- prometheus.MustNewConstMetric(descMemory, prometheus.GaugeValue, float64(r.Resources.MemoryBytes), r.Name, r.Kit)
		}
		if r.Resources.NanoCPUs > 0 {
			ch <- prometheus.MustNewConstMetric(descCPUs, prometheus.GaugeValue, float64(r.Resources.NanoCPUs)/1e9, r.Name, r.Kit)
		}
		if !r.Started.IsZero() {
			ch <- prometheus.MustNewConstMetric(descStarted, prometheus.GaugeValue, float64(r.Started.UnixNano())/1e9, r.Name, r.Kit)
		}
		if r.State != project.StateMissing {
			ch <- prometheus.MustNewConstMetric(descRestart, prometheus.CounterValue, float64(r.Restarts), r.Name, r.Kit)
		}
		if u := r.Usage; u != nil {
			ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, u.CPUSeconds, r.Name, r.Kit)
			ch <- prometheus.MustNewConstMetric(descMemUsed, prometheus.GaugeValue, float64(u.MemoryBytes), r.Name, r.Kit)
			ch <- prometheus.MustNewConstMetric(descPIDs, prometheus.GaugeValue, float64(u.PIDs), r.Name, r.Kit)
		}
	}
	// The repository is read, never created, by a scrape.
	if ents, _, err := c.s.proj().Backups(""); err == nil {
		ch <- prometheus.MustNewConstMetric(descBackups, prometheus.GaugeValue, float64(len(ents)))
		last := map[string]time.Time{}
		for _, e := range ents {
			if e.Manifest == nil {
				continue
			}
			for _, s := range e.Manifest.Services {
				if e.Manifest.Time.After(last[s.Container]) {
					last[s.Container] = e.Manifest.Time
				}
			}
		}
		for name, t := range last {
			ch <- prometheus.MustNewConstMetric(descBackup, prometheus.GaugeValue, float64(t.UnixNano())/1e9, name)
		}
	}
	if gens, err := c.s.proj().Generations(); err == nil && len(gens) > 0 {
		g := gens[len(gens)-1]
		ch <- prometheus.MustNewConstMetric(descGen, prometheus.GaugeValue, float64(g.Number))
		ch <- prometheus.MustNewConstMetric(descGenTime, prometheus.GaugeValue, float64(g.Time.UnixNano())/1e9)
	}
}
