package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// median of xs; 0 when empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quartiles returns the lower and upper quartile of xs: the medians of its
// lower and upper halves.
func quartiles(xs []float64) (q1, q3 float64) {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0, 0
	}
	h := len(s) / 2
	return median(s[:max(h, 1)]), median(s[len(s)-max(h, 1):])
}

// pairedRatios are a[i]/b[i] for the repetitions both have.
func pairedRatios(a, b []float64) []float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	return rs
}

// verdict judges paired ratios against a goal of at most limit: met when
// even the upper quartile is within it, missed when even the lower
// quartile is beyond it, and a tie within the noise otherwise.
func verdict(rs []float64, limit float64) string {
	q1, q3 := quartiles(rs)
	switch {
	case len(rs) == 0:
		return "-"
	case q3 <= limit:
		return "met"
	case q1 > limit:
		return fmt.Sprintf("MISSED (%.2f–%.2fx)", q1, q3)
	}
	return fmt.Sprintf("tie (%.2f–%.2fx)", q1, q3)
}

// pairedRatio is the median over repetitions of a[i]/b[i]: the tools of a
// repetition run one after the other, so each ratio compares runs made
// under the same load, and a machine whose load drifts (a shared one)
// skews the medians of each tool more than this.
func pairedRatio(a, b []float64) float64 { return median(pairedRatios(a, b)) }

func ratio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}

// Goals of issue 3: first up within 1.2x of the floor and no slower than
// compose; a no-op up under 100 ms.
const (
	goalFloorRatio = 1.2
	goalNoop       = 0.100
)

func (b *bench) print(out io.Writer, header string, ns []int, variants, noops []variant) {
	has := map[string]bool{}
	for _, v := range variants {
		has[v.key] = true
	}
	fmt.Fprintln(out, header)
	fmt.Fprintf(out, "\nFirst up of N containers (seconds: median of %d runs; ratios: median of the ratios within each run;\ngoals: met when the upper quartile of those ratios is within the goal, a tie when the goal lies between the quartiles)\n\n", *flagReps)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	cols := []string{"N"}
	for _, v := range variants {
		cols = append(cols, v.title)
	}
	cols = append(cols, "berth/floor")
	if has["cli"] {
		cols = append(cols, "cli/floor")
	}
	if has["compose"] {
		cols = append(cols, "berth/compose")
		if has["cli"] {
			cols = append(cols, "cli/compose")
		}
	}
	cols = append(cols, "goals")
	fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	for _, n := range ns {
		row := []string{fmt.Sprint(n)}
		m := map[string]float64{}
		for _, v := range variants {
			m[v.key] = median(b.results[v.key][n])
			row = append(row, fmt.Sprintf("%.2f", m[v.key]))
		}
		res := func(k string) []float64 { return b.results[k][n] }
		r := map[string]float64{
			"lib/floor":   pairedRatio(res("lib"), res("floor")),
			"cli/floor":   pairedRatio(res("cli"), res("floor")),
			"lib/compose": pairedRatio(res("lib"), res("compose")),
			"cli/compose": pairedRatio(res("cli"), res("compose")),
		}
		row = append(row, ratio(r["lib/floor"]))
		if has["cli"] {
			row = append(row, ratio(r["cli/floor"]))
		}
		if has["compose"] {
			row = append(row, ratio(r["lib/compose"]))
			if has["cli"] {
				row = append(row, ratio(r["cli/compose"]))
			}
		}
		// The goals are judged on the real binary when it is measured.
		berth := "lib"
		if has["cli"] {
			berth = "cli"
		}
		goal := "floor: " + verdict(pairedRatios(res(berth), res("floor")), goalFloorRatio)
		if has["compose"] {
			goal += ", compose: " + verdict(pairedRatios(res(berth), res("compose")), 1)
		}
		row = append(row, goal)
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()

	if len(b.extra) > 0 {
		fmt.Fprintf(out, "\nberth (lib) at other parallelisms (ratios: median of the ratios within each run)\n\n")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "N\tP\tseconds\t/compose\t/floor (P=N)\t")
		for _, n := range ns {
			for _, p := range append([]int{b.par}, b.extra...) {
				k := fmt.Sprintf("libp%d", p)
				if p == b.par {
					k = "lib"
				}
				xs := b.results[k][n]
				fmt.Fprintf(tw, "%d\t%d\t%.2f\t%s\t%s\t\n", n, p, median(xs), ratio(pairedRatio(xs, b.results["compose"][n])), ratio(pairedRatio(xs, b.results["floorall"][n])))
			}
		}
		tw.Flush()
	}

	fmt.Fprintf(out, "\nNo-op up on a running %d-container kit (%d runs, milliseconds)\n\n", *flagNoopN, *flagNoopReps)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian\tmin\tmax\tgoal\t")
	for _, v := range noops {
		xs := b.noop[v.key]
		if len(xs) == 0 {
			continue
		}
		goal := "-"
		if v.key != "compose" {
			goal = "met"
			if median(xs) >= goalNoop {
				goal = "MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%s\t\n", v.title, 1000*median(xs), 1000*slices.Min(xs), 1000*slices.Max(xs), goal)
	}
	tw.Flush()

	// The floor must run as many at once as berth did.
	for _, n := range ns {
		for _, r := range b.libRuns[n] {
			if r.MaxAtOnce > b.par || (n >= b.par && r.MaxAtOnce < b.par) {
				fmt.Fprintf(out, "\nWARNING: berth ran %d container creates at once for N=%d but the floor ran %d: apply's default parallelism changed; pass -parallel\n", r.MaxAtOnce, n, b.par)
				break
			}
		}
	}

	if *flagBreakdown {
		b.printBreakdown(out, ns)
	}
}

// printBreakdown says where berth's library up spends its time: the
// phases, and each kind of engine call (count per run, mean latency).
// Calls overlap, so their sums can exceed the phase they ran in.
func (b *bench) printBreakdown(out io.Writer, ns []int) {
	fmt.Fprintf(out, "\nWhere berth (lib) spends a first up (median over runs, milliseconds)\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\t"+strings.Join(phaseOrder, "\t")+"\ttotal\tops\tat once\t")
	for _, n := range ns {
		runs := b.libRuns[n]
		if len(runs) == 0 {
			continue
		}
		row := []string{fmt.Sprint(n)}
		for _, p := range phaseOrder {
			row = append(row, ms(medianOf(runs, func(r libRun) time.Duration { return r.Phases[p] })))
		}
		row = append(row, ms(medianOf(runs, func(r libRun) time.Duration { return r.Total })))
		row = append(row, fmt.Sprint(runs[0].Ops), fmt.Sprint(runs[0].MaxAtOnce))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()

	fmt.Fprintf(out, "\nEngine calls of berth (lib) per first up: count, mean and max latency (ms)\n\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	names := map[string]bool{}
	for _, runs := range b.libRuns {
		for _, r := range runs {
			for k := range r.Calls {
				names[k] = true
			}
		}
	}
	fmt.Fprintln(tw, "N\tcall\tcount\tmean\tmax\t")
	for _, n := range ns {
		for _, name := range slices.Sorted(maps.Keys(names)) {
			var count int
			var total, mx time.Duration
			for _, r := range b.libRuns[n] {
				s := r.Calls[name]
				count += s.N
				total += s.Total
				mx = max(mx, s.Max)
			}
			if count == 0 {
				continue
			}
			runs := len(b.libRuns[n])
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t\n", n, name, count/runs, ms(total/time.Duration(count)), ms(mx))
		}
	}
	tw.Flush()
}

func medianOf(runs []libRun, f func(libRun) time.Duration) time.Duration {
	var xs []float64
	for _, r := range runs {
		xs = append(xs, float64(f(r)))
	}
	return time.Duration(median(xs))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
