package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/ollama"
)

// chatService is a service of the stack that serves language models:
// Ollama's API, or an OpenAI-compatible one (vLLM, LocalAI).
type chatService struct {
	Container string `json:"container"`
	Kind      string `json:"kind"` // ollama or openai
	URL       string `json:"url"`
}

// chatModel is a model one of them offers.
type chatModel struct {
	Service string `json:"service"` // the container
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Size    int64  `json:"size,omitempty"`
}

// chatKinds: which services speak which API, by the catalog's name for
// them; a service of the user's kits counts by its own name (a service
// called ollama in a kit of one's own is an Ollama).
var chatKinds = map[string]string{"ollama": "ollama", "vllm": "openai", "localai": "openai"}

// chatServices finds the enabled model services and their private URLs.
func (s *Server) chatServices() ([]chatService, error) {
	p := s.proj()
	kinds := map[string]string{}
	var names []string
	for _, svc := range p.Config().Enabled() {
		name := svc.Name
		if svc.Catalog != nil {
			name = svc.Catalog.Name
		}
		if k := chatKinds[name]; k != "" {
			kinds[svc.Container] = k
			names = append(names, svc.Container)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	urls, err := p.URLs(names)
	if err != nil {
		return nil, err
	}
	var out []chatService
	for _, u := range urls {
		base := strings.TrimSuffix(u.Direct, "/")
		if !strings.Contains(base, "://") {
			base = "http://" + base
		}
		out = append(out, chatService{Container: u.Name, Kind: kinds[u.Name], URL: base})
	}
	slices.SortFunc(out, func(a, b chatService) int { return strings.Compare(a.Container, b.Container) })
	return out, nil
}

func (s *Server) chatService(container string) (chatService, error) {
	svcs, err := s.chatServices()
	if err != nil {
		return chatService{}, err
	}
	for _, c := range svcs {
		if c.Container == container {
			return c, nil
		}
	}
	return chatService{}, fmt.Errorf("%w: %s is no model service of this project", errBadRequest, container)
}

// models asks every model service for its models. A service that does not
// answer is reported in problems, not as a failure.
func (s *Server) models(ctx context.Context) ([]chatService, []chatModel, []string, error) {
	svcs, err := s.chatServices()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var models []chatModel
	var problems []string
	for _, svc := range svcs {
		switch svc.Kind {
		case "ollama":
			ms, err := ollama.New(svc.URL).List(ctx)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", svc.Container, err))
				continue
			}
			for _, m := range ms {
				models = append(models, chatModel{Service: svc.Container, Kind: svc.Kind, Name: m.Name, Size: m.Size})
			}
		case "openai":
			names, err := openAIModels(ctx, svc.URL)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", svc.Container, err))
				continue
			}
			for _, n := range names {
				models = append(models, chatModel{Service: svc.Container, Kind: svc.Kind, Name: n})
			}
		}
	}
	return svcs, models, problems, nil
}

// chatPage is the chat page's data.
type chatPage struct {
	Services []chatService
	Models   []chatModel
	Error    string
}

func (s *Server) chatData(r *http.Request) (any, error) {
	svcs, models, problems, err := s.models(r.Context())
	if err != nil {
		return chatPage{}, err
	}
	return chatPage{Services: svcs, Models: models, Error: strings.Join(problems, "; ")}, nil
}

// modelsJSON is GET /api/chat/models.
type modelsJSON struct {
	Services []chatService `json:"services"`
	Models   []chatModel   `json:"models"`
	Problems []string      `json:"problems"`
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	svcs, models, problems, err := s.models(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if svcs == nil {
		svcs = []chatService{}
	}
	if models == nil {
		models = []chatModel{}
	}
	if problems == nil {
		problems = []string{}
	}
	writeJSON(w, http.StatusOK, modelsJSON{Services: svcs, Models: models, Problems: problems})
}

// chatRequest is the body of POST /api/chat/{container}/chat.
type chatRequest struct {
	Model    string           `json:"model"`
	Messages []ollama.Message `json:"messages"`
	// Temperature and Seed make answers repeatable (tests, demos).
	Temperature *float64 `json:"temperature,omitempty"`
	Seed        int      `json:"seed,omitempty"`
	NumPredict  int      `json:"numPredict,omitempty"`
}

// chatLine is one line of the answer stream: a token, then the end.
type chatLine struct {
	Token string `json:"token,omitempty"`
	Done  bool   `json:"done,omitempty"`
	Error string `json:"error,omitempty"`
}

// handleChat streams a model's answer as NDJSON chatLines. The page's stop
// button aborts the request, which cancels the generation.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	svc, err := s.chatService(r.PathValue("container"))
	if err != nil {
		fail(w, err)
		return
	}
	var req chatRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil || req.Model == "" || len(req.Messages) == 0 {
		fail(w, fmt.Errorf("%w: a chat needs a model and messages", errBadRequest))
		return
	}
	out := startNDJSON(w)
	token := func(t string) { out.write(chatLine{Token: t}) }
	began := time.Now()
	switch svc.Kind {
	case "ollama":
		_, err = ollama.New(svc.URL).Chat(r.Context(), req.Model, req.Messages,
			ollama.ChatOptions{Temperature: req.Temperature, Seed: req.Seed, NumPredict: req.NumPredict}, token)
	default:
		err = openAIChat(r.Context(), svc.URL, req, token)
	}
	s.metrics.chatted(svc.Container, time.Since(began), err)
	if err != nil && r.Context().Err() == nil {
		out.write(chatLine{Error: err.Error(), Done: true})
		return
	}
	out.write(chatLine{Done: true})
}

// modelRequest is the body of pull and delete.
type modelRequest struct {
	Model   string `json:"model"`
	Confirm string `json:"confirm,omitempty"`
}

// handleModelPull: POST /api/chat/{container}/pull {"model": …} streams
// Ollama's progress as NDJSON ({"status", "completed", "total"}), then
// {"done": true} or {"error": …}.
func (s *Server) handleModelPull(w http.ResponseWriter, r *http.Request) {
	svc, req, ok := s.ollamaRequest(w, r)
	if !ok {
		return
	}
	out := startNDJSON(w)
	err := ollama.New(svc.URL).Pull(r.Context(), req.Model, func(p ollama.Progress) { out.write(p) })
	if err != nil {
		out.write(apiError{Error: err.Error(), Hint: "Ollama downloads from its registry; without access make a model from a GGUF file with 'berth ollama create NAME FILE.gguf'"})
		return
	}
	out.write(map[string]bool{"done": true})
}

// handleModelDelete: POST /api/chat/{container}/delete {"model": m,
// "confirm": m}.
func (s *Server) handleModelDelete(w http.ResponseWriter, r *http.Request) {
	svc, req, ok := s.ollamaRequest(w, r)
	if !ok {
		return
	}
	if req.Confirm != req.Model {
		fail(w, fmt.Errorf("deleting %s %w", req.Model, errConfirm))
		return
	}
	if err := ollama.New(svc.URL).Delete(r.Context(), req.Model); err != nil {
		if errors.Is(err, ollama.ErrNotFound) {
			writeJSONError(w, http.StatusNotFound, err.Error(), "")
			return
		}
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": req.Model})
}

func (s *Server) ollamaRequest(w http.ResponseWriter, r *http.Request) (chatService, modelRequest, bool) {
	var req modelRequest
	svc, err := s.chatService(r.PathValue("container"))
	if err == nil && svc.Kind != "ollama" {
		err = fmt.Errorf("%w: %s is not Ollama; its models are managed by the service itself", errBadRequest, svc.Container)
	}
	if err == nil {
		if derr := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); derr != nil || req.Model == "" {
			err = fmt.Errorf("%w: name the model: {\"model\": \"NAME\"}", errBadRequest)
		}
	}
	if err != nil {
		fail(w, err)
		return svc, req, false
	}
	return svc, req, true
}

// openAIModels lists an OpenAI-compatible server's models (GET /v1/models).
func openAIModels(ctx context.Context, base string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("listing models: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("listing models: %s", resp.Status)
	}
	var body struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("listing models: %w", err)
	}
	var out []string
	for _, d := range body.Data {
		out = append(out, d.ID)
	}
	return out, nil
}

// openAIChat streams a chat completion (POST /v1/chat/completions with
// stream: true, answered as server-sent events).
func openAIChat(ctx context.Context, base string, cr chatRequest, token func(string)) error {
	body := map[string]any{"model": cr.Model, "messages": cr.Messages, "stream": true}
	if cr.Temperature != nil {
		body["temperature"] = *cr.Temperature
	}
	if cr.Seed != 0 {
		body["seed"] = cr.Seed
	}
	if cr.NumPredict != 0 {
		body["max_tokens"] = cr.NumPredict
	}
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("chatting with %s: %w", cr.Model, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("chatting with %s: %s: %s", cr.Model, resp.Status, bytes.TrimSpace(msg))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			return nil
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal([]byte(line), &chunk) == nil && len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			token(chunk.Choices[0].Delta.Content)
		}
	}
	return sc.Err()
}
