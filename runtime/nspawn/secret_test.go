package nspawn_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
)

// Issue 14, row 5: secrets were passed as --setenv=KEY=secret, readable
// by every local user in /proc/*/cmdline. The machine must still get the
// value, quotes, dollars and backslashes included.
func TestSecretsNotOnCommandLine(t *testing.T) {
	e := engine(t)
	ref := fixture.Load(t, e)
	labels := map[string]string{runtime.LabelProject: "berthtest-secret"}
	t.Cleanup(func() { runtimetest.Cleanup(t, e, labels) })
	var r [12]byte
	rand.Read(r[:])
	token := hex.EncodeToString(r[:])
	value := token + ` it's "quoted" $HOME \n %h`
	spec := runtime.ContainerSpec{
		Name: "berthtest-secret", Image: ref, Labels: labels,
		Env: []string{"FIXTURE_STDOUT=" + value, "BASH_ENV=/nonexistent-" + token, "PATH=/bin:/usr/bin"},
	}
	id, err := e.CreateContainer(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.StartContainer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	runtimetest.Eventually(t, 20*time.Second, "the machine to print the secret", func() bool {
		out.Reset()
		e.Logs(t.Context(), id, runtime.LogOptions{Tail: -1}, &out, io.Discard)
		return strings.Contains(out.String(), value)
	})
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	n := 0
	for _, p := range cmdlines {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n++
		if bytes.Contains(data, []byte(token)) {
			t.Errorf("%s holds the secret: %q", p, bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
		}
	}
	if n < 3 {
		t.Fatalf("read only %d command lines", n)
	}
	if err := e.StopContainer(t.Context(), id, time.Second); err != nil {
		t.Fatal(err)
	}
}
