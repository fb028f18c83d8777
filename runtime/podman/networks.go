package podman

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/runtime"
)

// netSubnet and netResource are libpod's network JSON (types.Network).
type netSubnet struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway,omitempty"`
}

type netResource struct {
	Name      string            `json:"name"`
	ID        string            `json:"id,omitempty"`
	Driver    string            `json:"driver"`
	Subnets   []netSubnet       `json:"subnets"`
	Labels    map[string]string `json:"labels,omitempty"`
	Internal  bool              `json:"internal"`
	IPv6      bool              `json:"ipv6_enabled"`
	DNSEnable bool              `json:"dns_enabled"`
	Interface string            `json:"network_interface,omitempty"`
}

// ListNetworks lists networks carrying all the given labels (an empty value
// matches any value), with the containers attached to them.
func (e *Engine) ListNetworks(ctx context.Context, labels map[string]string) ([]runtime.Network, error) {
	var res []netResource
	if err := e.do(ctx, http.MethodGet, "/networks/json", filters(labelFilter(labels)), nil, &res); err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	// libpod's network JSON has no endpoints: take them from the
	// containers, which name their networks.
	cs, err := e.listContainers(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []runtime.Network
	for _, n := range res {
		rn := fromNetwork(n)
		for _, c := range cs {
			if _, on := c.Networks[n.Name]; on {
				rn.Containers[c.ID] = c.Networks[n.Name]
			}
		}
		out = append(out, rn)
	}
	slices.SortFunc(out, func(a, b runtime.Network) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func fromNetwork(n netResource) runtime.Network {
	out := runtime.Network{ID: n.ID, Name: n.Name, Labels: n.Labels, Containers: map[string]netip.Addr{}, Bridge: n.Interface}
	for _, s := range n.Subnets {
		p, err := netip.ParsePrefix(s.Subnet)
		if err != nil || !p.Addr().Is4() {
			continue
		}
		out.Subnet = p
		out.Gateway, _ = netip.ParseAddr(s.Gateway)
		break
	}
	return out
}

// CreateNetwork creates a bridge network with the spec's subnet and gateway.
// Podman refuses a subnet used by another network or a host route; both
// are conflicts.
func (e *Engine) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (string, error) {
	req := netResource{
		Name:    spec.Name,
		Driver:  "bridge",
		Subnets: []netSubnet{{Subnet: spec.Subnet.String()}},
		Labels:  spec.Labels,
	}
	if spec.Gateway.IsValid() {
		req.Subnets[0].Gateway = spec.Gateway.String()
	}
	var res netResource
	err := e.do(ctx, http.MethodPost, "/networks/create", nil, req, &res)
	// Podman checks the subnet against the host's interfaces and fails
	// when one goes away while it reads them (another engine's veth):
	// that is a race, not an answer.
	for try := 0; try < 5 && err != nil && strings.Contains(err.Error(), "no such network interface"); try++ {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		err = e.do(ctx, http.MethodPost, "/networks/create", nil, req, &res)
	}
	if err != nil && strings.Contains(err.Error(), "is already used on the host or by another config") {
		err = fmt.Errorf("%w: %v", runtime.ErrConflict, err)
	}
	if err != nil {
		return "", fmt.Errorf("creating network %q: %w", spec.Name, err)
	}
	return res.ID, nil
}

// RemoveNetwork removes a network. As on Docker, it fails with
// runtime.ErrInUse while a running container is attached; stopped
// containers are disconnected first (Podman refuses to remove a network any
// container names, Docker only one with live endpoints).
func (e *Engine) RemoveNetwork(ctx context.Context, nameOrID string) error {
	err := e.do(ctx, http.MethodDelete, "/networks/"+url.PathEscape(nameOrID), nil, nil, nil)
	if errors.Is(err, runtime.ErrInUse) {
		err = e.detachStopped(ctx, nameOrID)
		if err == nil {
			err = e.do(ctx, http.MethodDelete, "/networks/"+url.PathEscape(nameOrID), nil, nil, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("removing network %q: %w", nameOrID, err)
	}
	return nil
}

// detachStopped disconnects the stopped containers from a network, or
// reports ErrInUse when a running one is attached.
func (e *Engine) detachStopped(ctx context.Context, netw string) error {
	var n netResource
	if err := e.do(ctx, http.MethodGet, "/networks/"+url.PathEscape(netw)+"/json", nil, nil, &n); err != nil {
		return err
	}
	cs, err := e.listContainers(ctx, nil)
	if err != nil {
		return err
	}
	var stopped []string
	for _, c := range cs {
		if _, on := c.Networks[n.Name]; !on {
			continue
		}
		if c.State == runtime.StateRunning || c.State == runtime.StatePaused || c.State == runtime.StateRestarting {
			return fmt.Errorf("%w: container %s is attached and %s", runtime.ErrInUse, c.Name, c.State)
		}
		stopped = append(stopped, c.ID)
	}
	for _, id := range stopped {
		if err := e.Disconnect(ctx, id, n.Name); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

// connectRequest is libpod's types.NetworkConnectOptions.
type connectRequest struct {
	Container string   `json:"container"`
	StaticIPs []string `json:"static_ips,omitempty"`
	StaticMAC string   `json:"static_mac,omitempty"`
	Aliases   []string `json:"aliases,omitempty"`
}

// Connect attaches a container to a network at the endpoint's address.
func (e *Engine) Connect(ctx context.Context, ctr string, ep runtime.Endpoint) error {
	req := connectRequest{Container: ctr, Aliases: ep.Aliases}
	if ep.IP.IsValid() {
		req.StaticIPs = []string{ep.IP.String()}
		req.StaticMAC = macFor(ep.IP)
	}
	if err := e.do(ctx, http.MethodPost, "/networks/"+url.PathEscape(ep.Network)+"/connect", nil, req, nil); err != nil {
		return fmt.Errorf("connecting %q to network %q: %w", ctr, ep.Network, err)
	}
	return nil
}

// Disconnect detaches a container from a network, forcibly.
func (e *Engine) Disconnect(ctx context.Context, ctr, netw string) error {
	req := struct {
		Container string `json:"Container"`
		Force     bool   `json:"Force"`
	}{ctr, true}
	if err := e.do(ctx, http.MethodPost, "/networks/"+url.PathEscape(netw)+"/disconnect", nil, req, nil); err != nil {
		return fmt.Errorf("disconnecting %q from network %q: %w", ctr, netw, err)
	}
	return nil
}
