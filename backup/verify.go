package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/klauspost/compress/zstd"
)

// VerifyResult is what Verify found.
type VerifyResult struct {
	ID    string `json:"id"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	Packs int    `json:"packs"`
	// Problems is empty when every content was read back with its hash.
	Problems []string `json:"problems"`
}

// CorruptError lists what is wrong with a backup.
type CorruptError struct {
	ID       string
	Problems []string
}

func (e *CorruptError) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("backup %s is corrupt: %s", e.ID, e.Problems[0])
	}
	return fmt.Sprintf("backup %s is corrupt: %s (and %d more problems)", e.ID, e.Problems[0], len(e.Problems)-1)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Verify reads backup id back in full: the manifest against its checksum,
// every pack it uses against the checksum in the manifest, and every
// content against its sha256. Problems are listed in the result, and the
// error is a *CorruptError when there are any.
func (r *Repo) Verify(ctx context.Context, id string, events func(Event)) (*VerifyResult, error) {
	res := &VerifyResult{ID: id, Problems: []string{}}
	m, err := r.Manifest(id)
	if errors.Is(err, ErrCorrupt) {
		res.Problems = append(res.Problems, err.Error())
		return res, &CorruptError{ID: id, Problems: res.Problems}
	}
	if err != nil {
		return nil, err
	}
	res.Files, res.Bytes = m.Totals()
	res.Problems = append(res.Problems, m.problems()...)
	// need maps each pack to the contents read from it and where they go.
	need := map[string]map[string][]string{}
	m.blobs(func(where string, f *File) {
		if need[f.Pack] == nil {
			need[f.Pack] = map[string][]string{}
		}
		need[f.Pack][f.SHA256] = append(need[f.Pack][f.SHA256], where)
	})
	var ids []string
	for p := range need {
		ids = append(ids, p)
	}
	sort.Strings(ids)
	res.Packs = len(ids)
	var done int64
	for _, pid := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		want, ok := m.Packs[pid]
		if !ok {
			res.Problems = append(res.Problems, fmt.Sprintf("pack %s is used but not listed in the manifest", pid))
		}
		found := map[string]bool{}
		err := readPack(r.packPath(pid), want, func(name string, size int64, rd io.Reader) error {
			if _, ok := need[pid][name]; !ok || found[name] {
				return nil
			}
			h := sha256.New()
			n, err := io.Copy(h, rd)
			if err != nil {
				return err
			}
			done += n
			if events != nil {
				events(Event{Kind: EventProgress, Container: id, Path: "pack " + pid, Done: done, Total: res.Bytes})
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != name {
				res.Problems = append(res.Problems, fmt.Sprintf("pack %s: content %s reads back as %s (%s)", pid, short(name), short(got), need[pid][name][0]))
				return nil
			}
			found[name] = true
			return nil
		})
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("pack %s: %v", pid, err))
		}
		var missing []string
		for sum, where := range need[pid] {
			if !found[sum] {
				missing = append(missing, fmt.Sprintf("pack %s: content %s of %s is missing or damaged", pid, short(sum), where[0]))
			}
		}
		sort.Strings(missing)
		res.Problems = append(res.Problems, missing...)
	}
	if len(res.Problems) > 0 {
		return res, &CorruptError{ID: id, Problems: res.Problems}
	}
	return res, nil
}

// errPackSum is returned by readPack when the pack file's bytes do not
// match the manifest's checksum.
var errPackSum = errors.New("pack checksum mismatch")

// readPack streams the pack at p, calling fn for each entry, then checks
// the whole file against want. A decoding error ends the read.
func readPack(p string, want Pack, fn func(name string, size int64, r io.Reader) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	counted := &countWriter{w: h}
	src := io.TeeReader(f, counted)
	zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("decoding: %w", err)
		}
		if err := fn(hdr.Name, hdr.Size, tr); err != nil {
			return fmt.Errorf("decoding %s: %w", short(hdr.Name), err)
		}
	}
	// The tar end may come before the file's end; hash the rest too.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return err
	}
	if want.SHA256 != "" && (hex.EncodeToString(h.Sum(nil)) != want.SHA256 || counted.n != want.Size) {
		return errPackSum
	}
	return nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
