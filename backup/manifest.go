// Package backup takes consistent copies of services' data into a
// repository and puts them back: data paths copied while the service is
// stopped, PostgreSQL dumped with pg_dumpall from its running container.
//
// A repository holds one manifest per backup (service, paths, every file's
// size, owner, mode, mtime and sha256, berth's version, the config
// generation), authenticated with an HMAC whose key stays in the state
// directory (see LoadKey), and packs: tar streams
// compressed with zstd whose entries are file contents named by their
// sha256. A content already in any pack of the repository is not stored
// again, so a backup of unchanged files adds little more than a manifest.
//
// Restores are staged beside the data path, swapped in with one rename and
// kept aside until the service is healthy; Recover undoes a restore that
// was cut off, so the data path is never left half written.
package backup

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// Format is the manifest format this package writes and reads.
const Format = 1

// Methods of taking a service's copy.
const (
	// MethodFiles copies the data paths with the service stopped.
	MethodFiles = "files"
	// MethodPgDumpall dumps every database of a running PostgreSQL.
	MethodPgDumpall = "pg_dumpall"
)

// Manifest describes one backup.
type Manifest struct {
	Format       int       `json:"format"`
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	Project      string    `json:"project"`
	BerthVersion string    `json:"berthVersion"`
	// Generation is the config generation applied when the backup was
	// taken; 0 when none was recorded.
	Generation int       `json:"generation"`
	Services   []Service `json:"services"`
	// Packs lists every pack the backup reads from, with the checksum of
	// the whole pack file.
	Packs map[string]Pack `json:"packs"`
}

// Pack is one pack file's identity.
type Pack struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Service is what one service's backup holds.
type Service struct {
	Container string `json:"container"`
	Kit       string `json:"kit"`
	Service   string `json:"service"`
	Method    string `json:"method"`
	// Stopped says the service was stopped for the copy.
	Stopped bool   `json:"stopped,omitempty"`
	Paths   []Path `json:"paths"`
	// Dump is the pg_dumpall output, for MethodPgDumpall.
	Dump *File `json:"dump,omitempty"`
	// Models are the Ollama models present, when they were saved as names
	// to pull again instead of as files.
	Models []string `json:"models,omitempty"`
}

// Path is one data path and its files.
type Path struct {
	Option string `json:"option"`
	Host   string `json:"host"`
	Target string `json:"target"`
	// Missing says the path did not exist when the backup was taken.
	Missing bool `json:"missing,omitempty"`
	// ModelNames says the path's content was saved as Service.Models.
	ModelNames bool   `json:"modelNames,omitempty"`
	Files      []File `json:"files"`
}

// File types.
const (
	TypeDir     = "dir"
	TypeFile    = "file"
	TypeSymlink = "symlink"
)

// File is one entry of a data path.
type File struct {
	Path   string    `json:"path"` // slash-separated, relative to the data path; "." is the path itself
	Type   string    `json:"type"`
	Mode   uint32    `json:"mode"` // permission, setuid, setgid and sticky bits
	UID    int       `json:"uid"`
	GID    int       `json:"gid"`
	MTime  time.Time `json:"mtime"`
	Size   int64     `json:"size,omitempty"`
	SHA256 string    `json:"sha256,omitempty"`
	Pack   string    `json:"pack,omitempty"` // the pack holding the content
	Link   string    `json:"link,omitempty"`
	// Ino and CTime identify the file's version on disk: a later backup
	// that finds the same inode, size, mtime and ctime takes the hash
	// from here instead of reading the file again. Any write changes the
	// ctime, and no tool can set it back.
	Ino   uint64    `json:"ino,omitempty"`
	CTime time.Time `json:"ctime,omitzero"`
}

// Totals counts the files and bytes the backup describes.
func (m *Manifest) Totals() (files int, bytes int64) {
	for _, s := range m.Services {
		for _, p := range s.Paths {
			for _, f := range p.Files {
				if f.Type == TypeFile {
					files++
					bytes += f.Size
				}
			}
		}
		if s.Dump != nil {
			files++
			bytes += s.Dump.Size
		}
	}
	return files, bytes
}

// blobs calls fn for every stored content the manifest references.
func (m *Manifest) blobs(fn func(where string, f *File)) {
	for i := range m.Services {
		s := &m.Services[i]
		for j := range s.Paths {
			p := &s.Paths[j]
			for k := range p.Files {
				if f := &p.Files[k]; f.Type == TypeFile {
					fn(s.Container+":"+p.Host+"/"+f.Path, f)
				}
			}
		}
		if s.Dump != nil {
			fn(s.Container+": pg_dumpall output", s.Dump)
		}
	}
}

// problems lists what makes the manifest unusable though its checksum
// holds: entries outside their data path, unknown types, contents without
// a hash or a pack, an entry listed twice.
func (m *Manifest) problems() []string {
	var out []string
	for _, s := range m.Services {
		for _, p := range s.Paths {
			seen := map[string]bool{}
			for _, f := range p.Files {
				where := s.Container + ":" + p.Host + "/" + f.Path
				if c := path.Clean(f.Path); path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") || c != f.Path {
					out = append(out, fmt.Sprintf("entry %s leaves the data path", where))
				}
				if seen[f.Path] {
					out = append(out, fmt.Sprintf("entry %s is listed twice", where))
				}
				seen[f.Path] = true
				switch f.Type {
				case TypeDir, TypeSymlink:
				case TypeFile:
					if len(f.SHA256) != 64 || f.Pack == "" {
						out = append(out, fmt.Sprintf("entry %s has no content hash or pack", where))
					}
				default:
					out = append(out, fmt.Sprintf("entry %s has unknown type %q", where, f.Type))
				}
			}
		}
	}
	return out
}

// Containers lists the containers the backup holds.
func (m *Manifest) Containers() []string {
	var out []string
	for _, s := range m.Services {
		out = append(out, s.Container)
	}
	sort.Strings(out)
	return out
}

// ErrCorrupt reports a manifest or pack whose content does not match its
// checksum, or that cannot be read.
var ErrCorrupt = errors.New("backup is corrupt")

// ErrNotFound reports a backup ID the repository does not hold.
var ErrNotFound = errors.New("no such backup")

// encodeManifest returns the manifest's bytes and their authentication
// line: "hmac-sha256 <key id> <mac>".
func encodeManifest(m *Manifest, key []byte) (data, mac []byte, err error) {
	if len(key) == 0 {
		return nil, nil, fmt.Errorf("writing manifest: %w", ErrNoKey)
	}
	data, err = json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("encoding manifest: %w", err)
	}
	data = append(data, '\n')
	return data, []byte("hmac-sha256 " + keyID(key) + " " + macOf(key, data) + "\n"), nil
}

// decodeManifest checks data against its authentication line and decodes
// it. A manifest is trusted only when its HMAC holds: it says where files
// go, with which owners and modes.
func decodeManifest(id string, data, mac, key []byte) (*Manifest, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("backup %s: %w to check its manifest", id, ErrNoKey)
	}
	f := strings.Fields(string(mac))
	if len(f) != 3 || f[0] != "hmac-sha256" {
		return nil, fmt.Errorf("backup %s: the manifest has no HMAC (an older berth wrote it, or it is forged): %w", id, ErrCorrupt)
	}
	if f[1] != keyID(key) {
		return nil, fmt.Errorf("backup %s: the manifest was written with another backup key (%s; this machine's is %s; to restore another machine's backups, copy its %s into the state directory): %w", id, f[1], keyID(key), KeyFile, ErrCorrupt)
	}
	if !hmac.Equal([]byte(f[2]), []byte(macOf(key, data))) {
		return nil, fmt.Errorf("backup %s: manifest authentication failed: it was edited or forged: %w", id, ErrCorrupt)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("backup %s: decoding manifest: %v: %w", id, err, ErrCorrupt)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("backup %s: manifest format %d, this berth reads %d", id, m.Format, Format)
	}
	if m.ID != id {
		return nil, fmt.Errorf("backup %s: manifest names backup %q: %w", id, m.ID, ErrCorrupt)
	}
	return &m, nil
}
