package config

import (
	"fmt"
	"sort"
	"strings"
)

// TargetError is a TARGET that names nothing.
type TargetError struct {
	Target string
	Hint   string
}

func (e *TargetError) Error() string { return fmt.Sprintf("unknown target %q", e.Target) }

// Select resolves TARGETs to services: a container name (ml-ollama, also
// without the config's containerPrefix), a kit
// (ml), a service path (ml/ollama), a stack (ai), or "--all"/none for every
// enabled service. Disabled services are included only when named one by
// one, so that `berth stop ml-vllm` works on a service being turned off.
// The result is sorted by container name and has no duplicates.
func (c *Config) Select(targets []string) ([]*Service, error) {
	if len(targets) == 0 {
		return c.Enabled(), nil
	}
	seen := map[*Service]bool{}
	var out []*Service
	add := func(s *Service) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, t := range targets {
		if t == "--all" || t == "all" {
			for _, s := range c.Enabled() {
				add(s)
			}
			continue
		}
		found := false
		if kit, svc, ok := strings.Cut(t, "/"); ok {
			if s := c.Service(kit, svc); s != nil {
				add(s)
				found = true
			}
		} else if st := c.Stack(t); st != nil {
			for _, m := range st.Members {
				if s := c.Service(m.Kit, m.Service); s != nil {
					add(s)
				}
			}
			found = true
		} else if k := c.Kit(t); k != nil {
			for _, s := range k.Services {
				if s.Enable && k.Enable {
					add(s)
				}
			}
			found = true
		} else {
			// A container's name, with or without the config's
			// containerPrefix: `berth logs ml-ollama` works under any prefix.
			for _, k := range c.Kits {
				for _, s := range k.Services {
					if s.Container == t || (c.ContainerPrefix != "" && s.Container == c.ContainerPrefix+t) {
						add(s)
						found = true
					}
				}
			}
		}
		if !found {
			return nil, &TargetError{Target: t, Hint: c.targetHint(t)}
		}
	}
	sortServices(out)
	return out, nil
}

// TargetNames lists every valid TARGET, for completion and hints.
func (c *Config) TargetNames() []string {
	var out []string
	for _, k := range c.Kits {
		out = append(out, k.Name)
		for _, s := range k.Services {
			out = append(out, s.Container, k.Name+"/"+s.Name)
		}
	}
	for _, st := range c.Stacks {
		out = append(out, st.Name)
	}
	sort.Strings(out)
	return out
}

func (c *Config) targetHint(t string) string {
	if s := suggest(t, c.TargetNames()); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return "a TARGET is a container (ml-ollama), a kit (ml), a service (ml/ollama) or a stack; 'berth status' lists them"
}
