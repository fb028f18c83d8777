package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ParseDotEnv reads KEY=VALUE lines as Compose's .env and env_file do:
// blank lines and # comments are skipped, an "export " prefix is allowed,
// a value in single quotes is taken literally, one in double quotes has
// \n, \t, \" and \\ escapes, and an unquoted value loses its surrounding
// spaces and a trailing " # comment". Variables are not expanded. Every
// bad line is reported, as Errors with file:line.
func ParseDotEnv(file string, data []byte) (map[string]string, error) {
	out := map[string]string{}
	var es Errors
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		text = strings.TrimPrefix(text, "export ")
		key, val, ok := strings.Cut(text, "=")
		key = strings.TrimSpace(key)
		pos := Pos{File: file, Line: line, Column: 1}
		if !ok || !validEnvName(key) {
			es = append(es, &Error{Pos: pos, Msg: fmt.Sprintf("invalid line %q", truncate(text, 40)), Hint: "write KEY=VALUE; names are letters, digits and _"})
			continue
		}
		v, err := dotenvValue(strings.TrimSpace(val))
		if err != nil {
			es = append(es, &Error{Pos: pos, Path: key, Msg: err.Error(), Hint: "close the quote on the same line"})
			continue
		}
		out[key] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(es) > 0 {
		return nil, es
	}
	return out, nil
}

func dotenvValue(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, "'"):
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated single quote")
		}
		return v[1 : end+1], nil
	case strings.HasPrefix(v, `"`):
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; c {
			case '"':
				return b.String(), nil
			case '\\':
				if i+1 < len(v) {
					i++
					switch v[i] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(v[i])
					}
					continue
				}
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unterminated double quote")
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// readBeneath reads name: an absolute path as written, a relative one
// beneath dir without leaving it (no "..", no symlink out).
func readBeneath(dir, name string) (string, []byte, error) {
	if filepath.IsAbs(name) {
		data, err := os.ReadFile(name)
		return name, data, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return name, nil, err
	}
	defer root.Close()
	data, err := root.ReadFile(filepath.FromSlash(name))
	return filepath.Join(dir, name), data, err
}
