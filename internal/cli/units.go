package cli

import "fmt"

// byteSize prints a size of files or images the way docker does: decimal
// units (1 kB = 1000 B), one decimal place: 12.8 MB, 1.2 GB. Resource
// limits, which people set in binary units, print with
// desired.FormatBytes instead (256MiB).
func byteSize(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB", "PB"} {
		f /= 1000
		if f < 999.95 || u == "PB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return "" // not reached
}
