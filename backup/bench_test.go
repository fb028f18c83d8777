package backup

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchTree writes n files of size bytes each, half of each file random
// and half text-like, as notebooks and model shards mix.
func benchTree(b *testing.B, dir string, n, size int) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, size)
	for i := range n {
		for j := range buf {
			if j < size/2 {
				buf[j] = byte(rng.Uint32())
			} else {
				buf[j] = "berth backup restore "[j%21]
			}
		}
		buf[0] = byte(i)
		if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('a'+i/26))), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBackup measures a first backup, a second one of the same
// unchanged files, a verify and a restore of 256 MiB in 64 files.
//
//	go test ./backup -run '^$' -bench Backup -benchtime 1x
func BenchmarkBackup(b *testing.B) {
	const n, size = 64, 4 << 20
	data := filepath.Join(b.TempDir(), "data")
	os.MkdirAll(data, 0o755)
	benchTree(b, data, n, size)
	tg := target("bench", data)
	eng := newStub(b)
	{
		r, err := Open(filepath.Join(b.TempDir(), "repo"), testKey)
		if err != nil {
			b.Fatal(err)
		}
		var first, second *Result
		b.Run("first", func(b *testing.B) {
			b.SetBytes(n * size)
			for b.Loop() {
				if first, err = r.Backup(b.Context(), eng, []Target{tg}, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(first.Stored)/float64(n*size), "stored/input")
		})
		b.Run("unchanged", func(b *testing.B) {
			b.SetBytes(n * size)
			for b.Loop() {
				if second, err = r.Backup(b.Context(), eng, []Target{tg}, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(second.Stored), "stored-bytes")
		})
		b.Run("verify", func(b *testing.B) {
			b.SetBytes(n * size)
			for b.Loop() {
				if _, err := r.Verify(b.Context(), first.Manifest.ID, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("restore", func(b *testing.B) {
			b.SetBytes(n * size)
			for b.Loop() {
				if _, err := r.Restore(b.Context(), eng, first.Manifest.ID, []Target{tg}, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
