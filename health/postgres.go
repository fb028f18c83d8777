package health

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// ErrStarting reports a server that answers but is not ready yet (a
// PostgreSQL in recovery or still starting up).
var ErrStarting = errors.New("starting up")

// probePostgres speaks enough of the PostgreSQL protocol to tell a ready
// server from one whose port is merely open, as pg_isready does: it sends
// a startup message and reads the first answer. An authentication request
// means the server accepts sessions; an error with SQLSTATE 57P03
// (cannot_connect_now) means it is starting, shutting down or in
// recovery. No password is sent and the connection ends there.
func probePostgres(ctx context.Context, hostPort string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return fmt.Errorf("probing postgres %s: %w", hostPort, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	var params []byte
	for _, kv := range [][2]string{{"user", "postgres"}, {"database", "postgres"}, {"application_name", "berth-health"}} {
		params = append(append(append(append(params, kv[0]...), 0), kv[1]...), 0)
	}
	params = append(params, 0)
	msg := make([]byte, 8, 8+len(params))
	binary.BigEndian.PutUint32(msg[0:], uint32(8+len(params)))
	binary.BigEndian.PutUint32(msg[4:], 3<<16) // protocol 3.0
	msg = append(msg, params...)
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("probing postgres %s: %w", hostPort, err)
	}
	r := bufio.NewReader(c)
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("probing postgres %s: %w", hostPort, err)
	}
	n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
	if n < 0 || n > 1<<16 {
		return fmt.Errorf("probing postgres %s: not a PostgreSQL answer", hostPort)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return fmt.Errorf("probing postgres %s: %w", hostPort, err)
	}
	switch hdr[0] {
	case 'R':
		return nil
	case 'E':
		fields := map[byte]string{}
		for _, f := range strings.Split(string(body), "\x00") {
			if len(f) > 1 {
				fields[f[0]] = f[1:]
			}
		}
		if fields['C'] == "57P03" {
			return fmt.Errorf("probing postgres %s: %w: %s", hostPort, ErrStarting, fields['M'])
		}
		// Any other refusal (no such role, pg_hba) still proves a server
		// that accepts sessions.
		return nil
	default:
		return fmt.Errorf("probing postgres %s: unexpected message %q", hostPort, hdr[0])
	}
}
