package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// A restore of data path P works in P's sibling directory .P.berth-restore
// (same filesystem, so renames are atomic):
//
//	journal.json  what the restore is doing, written before each step
//	stage/        the restored content; after the swap, the previous one
//	old/          the previous content, when the swap took two renames
//
// The swap exchanges stage and P in one renameat2(RENAME_EXCHANGE). Until
// the service is healthy the previous content stays there; then the whole
// directory is removed. Which side holds what is read from inode numbers
// recorded in the journal, so a restore cut off at any point can be undone.

// journal is the state of one data path's restore.
type journal struct {
	Backup    string `json:"backup"`
	Container string `json:"container"`
	// Stopped says berth stopped the container for the restore.
	Stopped bool `json:"stopped"`
	// Swapping is set, with the inodes, just before the swap.
	Swapping    bool   `json:"swapping"`
	OrigMissing bool   `json:"origMissing"`
	OrigIno     uint64 `json:"origIno"`
	StageIno    uint64 `json:"stageIno"`
}

func restoreDir(host string) string {
	host = filepath.Clean(host)
	return filepath.Join(filepath.Dir(host), "."+filepath.Base(host)+".berth-restore")
}

func writeJournal(dir string, j *journal) error {
	data, _ := json.Marshal(j)
	if err := writeFile(filepath.Join(dir, "journal.json"), data); err != nil {
		return fmt.Errorf("writing restore journal: %w", err)
	}
	return syncDir(dir)
}

func readJournal(dir string) (*journal, error) {
	data, err := os.ReadFile(filepath.Join(dir, "journal.json"))
	if err != nil {
		return nil, err
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "journal.json"), err)
	}
	return &j, nil
}

// inode returns p's inode number, 0 when p does not exist.
func inode(p string) (uint64, error) {
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return info.Sys().(*syscall.Stat_t).Ino, nil
}

// swapIn puts dir/stage in place of host; the previous content ends up in
// dir/stage (or dir/old).
func swapIn(host, dir string, j *journal) error {
	stage := filepath.Join(dir, "stage")
	var err error
	if j.OrigIno, err = inode(host); err != nil {
		return err
	}
	j.OrigMissing = j.OrigIno == 0
	if j.StageIno, err = inode(stage); err != nil {
		return err
	}
	j.Swapping = true
	if err := writeJournal(dir, j); err != nil {
		return err
	}
	if j.OrigMissing {
		if err := os.Rename(stage, host); err != nil {
			return fmt.Errorf("moving the restored content into %s: %w", host, err)
		}
		return syncDir(filepath.Dir(host))
	}
	err = unix.Renameat2(unix.AT_FDCWD, stage, unix.AT_FDCWD, host, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP) {
		// No atomic exchange on this filesystem: two renames, which
		// recovery can tell apart by the inodes.
		if err = os.Rename(host, filepath.Join(dir, "old")); err == nil {
			err = os.Rename(stage, host)
		}
	}
	if err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EXDEV) {
			return fmt.Errorf("swapping the restored content into %s: %w (is it a mount point? restore needs to rename it)", host, err)
		}
		return fmt.Errorf("swapping the restored content into %s: %w", host, err)
	}
	return syncDir(filepath.Dir(host))
}

// swapBack puts the content host had before swapIn back in place. It does
// nothing when the swap never happened.
func swapBack(host, dir string, j *journal) error {
	if !j.Swapping {
		return nil
	}
	stage, old := filepath.Join(dir, "stage"), filepath.Join(dir, "old")
	cur, err := inode(host)
	if err != nil {
		return err
	}
	if j.OrigMissing {
		if cur != 0 && cur == j.StageIno {
			if err := os.Rename(host, stage); err != nil {
				return fmt.Errorf("moving the restored content out of %s: %w", host, err)
			}
		}
		return syncDir(filepath.Dir(host))
	}
	if cur == j.OrigIno {
		return nil // not swapped
	}
	if si, _ := inode(stage); si == j.OrigIno {
		if err := unix.Renameat2(unix.AT_FDCWD, stage, unix.AT_FDCWD, host, unix.RENAME_EXCHANGE); err != nil {
			return fmt.Errorf("putting the previous content of %s back: %w", host, err)
		}
		return syncDir(filepath.Dir(host))
	}
	if oi, _ := inode(old); oi == j.OrigIno {
		if cur != 0 {
			if err := os.Rename(host, stage); err != nil {
				return fmt.Errorf("putting the previous content of %s back: %w", host, err)
			}
		}
		if err := os.Rename(old, host); err != nil {
			return fmt.Errorf("putting the previous content of %s back: %w", host, err)
		}
		return syncDir(filepath.Dir(host))
	}
	return fmt.Errorf("putting the previous content of %s back: it is in neither %s nor %s", host, stage, old)
}
