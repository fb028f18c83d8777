package health

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/desired"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) uint16 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return uint16(p)
}

func TestCheckStartingThenUnhealthy(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	h := &desired.Health{Kind: "tcp", Port: closedPort(t), StartPeriod: time.Minute}
	if r := Check(t.Context(), nil, lo, h, time.Now().Add(-10*time.Second)); r.State != Starting || r.Err == nil {
		t.Errorf("inside the start period: %+v, want starting", r)
	}
	if r := Check(t.Context(), nil, lo, h, time.Now().Add(-2*time.Minute)); r.State != Unhealthy {
		t.Errorf("after the start period: %+v, want unhealthy", r)
	}
	if r := Check(t.Context(), nil, lo, h, time.Time{}); r.State != Down {
		t.Errorf("not running: %+v, want down", r)
	}
	if r := Check(t.Context(), nil, lo, nil, time.Now()); r.State != None {
		t.Errorf("no check: %+v", r)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h.Port = uint16(l.Addr().(*net.TCPAddr).Port)
	if r := Check(t.Context(), nil, lo, h, time.Now()); r.State != Healthy {
		t.Errorf("listening: %+v, want healthy", r)
	}
	if d := Deadline(h, time.Unix(1000, 0)); !d.Equal(time.Unix(1000, 0).Add(time.Minute + Grace)) {
		t.Errorf("Deadline: %v", d)
	}
}

// pgServer answers one startup message with msg.
func pgServer(t *testing.T, msg []byte) uint16 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			var n [4]byte
			io.ReadFull(c, n[:])
			io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(n[:])-4))
			c.Write(msg)
			c.Close()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func pgMessage(typ byte, body []byte) []byte {
	m := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(m[1:], uint32(4+len(body)))
	return append(m, body...)
}

func TestProbePostgres(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	probe := func(port uint16) error {
		return Probe(t.Context(), lo, &desired.Health{Kind: "postgres", Port: port})
	}
	// AuthenticationSASL: the server takes sessions.
	if err := probe(pgServer(t, pgMessage('R', []byte{0, 0, 0, 10, 'S', 'C', 'R', 'A', 'M', 0, 0}))); err != nil {
		t.Errorf("auth request: %v", err)
	}
	starting := pgMessage('E', []byte("SFATAL\x00C57P03\x00Mthe database system is starting up\x00\x00"))
	if err := probe(pgServer(t, starting)); !errors.Is(err, ErrStarting) {
		t.Errorf("starting up: %v, want ErrStarting", err)
	}
	noRole := pgMessage('E', []byte("SFATAL\x00C28000\x00Mrole does not exist\x00\x00"))
	if err := probe(pgServer(t, noRole)); err != nil {
		t.Errorf("a refusal of the role still proves a server: %v", err)
	}
	if err := probe(pgServer(t, []byte("HTTP/1.1 400 Bad Request\r\n\r\n"))); err == nil {
		t.Error("an HTTP server passed as PostgreSQL")
	}
	if err := probe(closedPort(t)); err == nil {
		t.Error("a closed port passed")
	}
}
