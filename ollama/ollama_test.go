package ollama

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The server side here replays answers in Ollama's wire format (recorded
// from ollama 0.17.4); the client against the real server is tested in
// e2e/.
func TestChatStreamsTokens(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"model":"tiny","message":{"role":"assistant","content":"8"},"done":false}
{"model":"tiny","message":{"role":"assistant","content":" all"},"done":false}
{"model":"tiny","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}
`)
	}))
	defer srv.Close()
	var toks []string
	got, err := New(srv.URL).Chat(t.Context(), "tiny", []Message{{Role: "user", Content: "hi"}}, ChatOptions{}, func(s string) { toks = append(toks, s) })
	if err != nil || got != "8 all" || strings.Join(toks, "|") != "8| all" {
		t.Errorf("Chat: %q, %q, %v", got, toks, err)
	}
}

func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/chat":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"model 'nosuch' not found"}`)
		case "/api/pull":
			io.WriteString(w, "{\"status\":\"pulling manifest\"}\n{\"error\":\"pull model manifest: dial tcp: lookup registry.ollama.ai: no such host\"}\n")
		default:
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"boom"}`)
		}
	}))
	defer srv.Close()
	c := New(srv.URL)
	if _, err := c.Chat(t.Context(), "nosuch", nil, ChatOptions{}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing model: %v, want ErrNotFound", err)
	}
	var steps []string
	err := c.Pull(t.Context(), "x", func(p Progress) { steps = append(steps, p.Status) })
	if err == nil || !strings.Contains(err.Error(), "no such host") || len(steps) != 1 {
		t.Errorf("pull: %v after %q", err, steps)
	}
	var ae *APIError
	if _, err := c.List(t.Context()); !errors.As(err, &ae) || ae.Status != 500 || ae.Msg != "boom" {
		t.Errorf("List: %v", err)
	}
}

func TestCreateUploadsOnce(t *testing.T) {
	var mu sync.Mutex
	have := map[string]bool{}
	var uploads int
	var created string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/api/blobs/"):
			if !have[r.URL.Path] {
				w.WriteHeader(http.StatusNotFound)
			}
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/blobs/"):
			io.Copy(io.Discard, r.Body)
			have[r.URL.Path] = true
			uploads++
			w.WriteHeader(http.StatusCreated)
		case r.URL.Path == "/api/create":
			b, _ := io.ReadAll(r.Body)
			created = string(b)
			io.WriteString(w, "{\"status\":\"parsing GGUF\"}\n{\"status\":\"success\"}\n")
		}
	}))
	defer srv.Close()
	f := filepath.Join(t.TempDir(), "m.gguf")
	os.WriteFile(f, []byte("GGUF not really"), 0o644)
	c := New(srv.URL)
	for range 2 {
		if err := c.Create(t.Context(), "m", f, CreateOptions{System: "be brief"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if uploads != 1 {
		t.Errorf("%d uploads, want 1 (the second create reuses the blob)", uploads)
	}
	// sha256 of the file's content names the blob.
	if !strings.Contains(created, `"m.gguf":"sha256:`) || !strings.Contains(created, `"system":"be brief"`) {
		t.Errorf("create request: %s", created)
	}
}
