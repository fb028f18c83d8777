// Package hostnet lists the IPv4 networks this host is attached to or
// routes to, so that a kit network never shadows one of them.
package hostnet

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Network is one IPv4 network on this host: an interface's address or a
// route. Addr is the interface's own address in it, when it has one.
type Network struct {
	Iface  string
	Prefix netip.Prefix
	Addr   netip.Addr
}

func (n Network) String() string {
	if n.Iface == "" {
		return n.Prefix.String()
	}
	return n.Prefix.String() + " (" + n.Iface + ")"
}

// List returns the networks of this host: every IPv4 interface address
// and every route in /proc/net/route except the default route, which
// covers everything and so says nothing. Loopback is left out: berth
// refuses 127.0.0.0/8 on its own.
func List() ([]Network, error) {
	var out []Network
	addrs := map[string][]netip.Prefix{}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("listing addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range as {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP.To4())
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			p := netip.PrefixFrom(ip, ones)
			addrs[ifc.Name] = append(addrs[ifc.Name], p)
			out = append(out, Network{Iface: ifc.Name, Prefix: p.Masked(), Addr: ip})
		}
	}
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, fmt.Errorf("reading routes: %w", err)
	}
	defer f.Close()
	routes, err := ParseRoutes(f)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		for _, p := range addrs[r.Iface] {
			if r.Prefix.Contains(p.Addr()) {
				r.Addr = p.Addr()
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Prefix != out[j].Prefix {
			return out[i].Prefix.String() < out[j].Prefix.String()
		}
		return out[i].Iface < out[j].Iface
	})
	// Drop duplicates: an interface's address and its link route name the
	// same network.
	dedup := out[:0]
	for i, n := range out {
		if i > 0 && n == out[i-1] {
			continue
		}
		dedup = append(dedup, n)
	}
	return dedup, nil
}

// ParseRoutes reads the kernel's IPv4 routing table in the format of
// /proc/net/route, leaving out default routes and loopback.
func ParseRoutes(r io.Reader) ([]Network, error) {
	var out []Network
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first {
			first = false // the header
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := hexAddr(f[1])
		mask, err2 := hexAddr(f[7])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("reading routes: bad line %q", sc.Text())
		}
		ones, _ := net.IPMask(mask.AsSlice()).Size()
		if ones == 0 || f[0] == "lo" {
			continue
		}
		out = append(out, Network{Iface: f[0], Prefix: netip.PrefixFrom(dst, ones).Masked()})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading routes: %w", err)
	}
	return out, nil
}

// hexAddr parses an address as /proc/net/route writes it: eight hex
// digits in host byte order.
func hexAddr(s string) (netip.Addr, error) {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return netip.Addr{}, err
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}
