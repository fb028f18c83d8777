package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/ollama"
)

// No OpenAI-compatible server (vLLM, LocalAI) can be built on this
// project's machines; this one answers as their streaming API does, so
// that the client's reading of it is checked. Ollama's side runs for real
// in TestBrowserChat.
func TestOpenAIStream(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			fmt.Fprint(w, `{"object":"list","data":[{"id":"qwen2.5-0.5b","object":"model"},{"id":"phi-3","object":"model"}]}`)
		case "/v1/chat/completions":
			json.NewDecoder(r.Body).Decode(&got)
			w.Header().Set("Content-Type", "text/event-stream")
			for _, tok := range []string{"Hel", "lo", "", " there"} {
				fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", tok)
			}
			fmt.Fprint(w, ": keep-alive\n\ndata: [DONE]\n\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	names, err := openAIModels(t.Context(), srv.URL)
	if err != nil || !slices.Equal(names, []string{"qwen2.5-0.5b", "phi-3"}) {
		t.Errorf("models: %v %v", names, err)
	}
	var toks []string
	temp := 0.0
	err = openAIChat(t.Context(), srv.URL, chatRequest{Model: "phi-3", Temperature: &temp, Seed: 3, NumPredict: 8,
		Messages: []ollama.Message{{Role: "user", Content: "hi"}}}, func(s string) { toks = append(toks, s) })
	if err != nil || strings.Join(toks, "|") != "Hel|lo| there" {
		t.Errorf("tokens %q, %v", toks, err)
	}
	if got["model"] != "phi-3" || got["stream"] != true || got["max_tokens"] != 8.0 || got["seed"] != 3.0 || got["temperature"] != 0.0 {
		t.Errorf("request: %v", got)
	}
	if err := openAIChat(t.Context(), srv.URL+"/nosuch", chatRequest{Model: "x"}, func(string) {}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a failing server: %v", err)
	}
}
