package stream_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/runtime/stream"
)

// frame writes one frame of the engines' multiplexed stream: the stream
// number, three zero bytes, the length (big-endian) and the bytes.
func frame(b *bytes.Buffer, stream byte, s string) {
	b.Write([]byte{stream, 0, 0, 0})
	binary.Write(b, binary.BigEndian, uint32(len(s)))
	b.WriteString(s)
}

// TestRun: output is split into its streams, and the exit code that
// trails the end of output is waited for.
func TestRun(t *testing.T) {
	var frames bytes.Buffer
	frame(&frames, 1, "out\n") // stdout
	frame(&frames, 2, "err\n") // stderr
	asked := 0
	inspect := func(context.Context) (bool, int, error) {
		asked++
		return asked < 3, 7, nil // still running twice, then exited 7
	}
	var out, errOut bytes.Buffer
	code, err := stream.Run(t.Context(), "c1", false, &frames, &out, &errOut, inspect)
	if err != nil || code != 7 || asked != 3 || out.String() != "out\n" || errOut.String() != "err\n" {
		t.Fatalf("run: code %d, err %v, asked %d, stdout %q, stderr %q", code, err, asked, out.String(), errOut.String())
	}

	// With a terminal the output is one raw stream; nil writers discard.
	code, err = stream.Run(t.Context(), "c1", true, strings.NewReader("raw"), nil, nil, func(context.Context) (bool, int, error) { return false, 0, nil })
	if err != nil || code != 0 {
		t.Fatalf("tty run: %d %v", code, err)
	}

	// An engine that cannot answer: its error, naming the container.
	boom := errors.New("boom")
	_, err = stream.Run(t.Context(), "c1", true, strings.NewReader(""), nil, nil, func(context.Context) (bool, int, error) { return false, 0, boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `"c1"`) {
		t.Fatalf("inspect error: %v", err)
	}

	// A cancelled context ends the wait with its error.
	ctx, cancel := context.WithCancel(t.Context())
	_, err = stream.Run(ctx, "c1", true, strings.NewReader(""), nil, nil, func(context.Context) (bool, int, error) { cancel(); return true, 0, nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
