// Package ollama is a small client of Ollama's HTTP API: the models it has
// (list, ps), getting them (pull, create from a local GGUF file),
// removing them, and generating text. It is what `berth ollama` runs,
// talking to the service at its private address rather than through
// `docker exec`.
package ollama

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotFound reports a model Ollama does not have.
var ErrNotFound = errors.New("model not found")

// Client talks to one Ollama server.
type Client struct {
	// Base is the server's URL, e.g. http://192.168.200.11:11434.
	Base string
	HTTP *http.Client // default: no proxy, no overall timeout
}

// New returns a client of the server at base.
func New(base string) *Client {
	return &Client{Base: strings.TrimSuffix(base, "/")}
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// Requests go straight to the private address: an HTTP proxy from the
// environment would not reach it.
var defaultHTTP = &http.Client{Transport: &http.Transport{Proxy: nil}}

// APIError is an error answer of the server.
type APIError struct {
	Status int
	Msg    string
}

func (e *APIError) Error() string { return fmt.Sprintf("ollama: %s (HTTP %d)", e.Msg, e.Status) }

func (c *Client) request(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Error string }
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if resp.StatusCode == http.StatusNotFound && strings.Contains(msg, "not found") {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, msg)
		}
		return nil, &APIError{Status: resp.StatusCode, Msg: msg}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Version returns the server's version.
func (c *Client) Version(ctx context.Context) (string, error) {
	var v struct{ Version string }
	if err := c.getJSON(ctx, http.MethodGet, "/api/version", nil, &v); err != nil {
		return "", fmt.Errorf("asking ollama's version: %w", err)
	}
	return v.Version, nil
}

// Model is a model the server has.
type Model struct {
	Name       string    `json:"name"`
	Digest     string    `json:"digest"`
	Size       int64     `json:"size"`
	ModifiedAt time.Time `json:"modified_at"`
	Details    struct {
		Format            string `json:"format"`
		Family            string `json:"family"`
		ParameterSize     string `json:"parameter_size"`
		QuantizationLevel string `json:"quantization_level"`
	} `json:"details"`
	// ps only:
	SizeVRAM  int64     `json:"size_vram,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// List returns the models the server has (GET /api/tags).
func (c *Client) List(ctx context.Context) ([]Model, error) {
	var r struct{ Models []Model }
	if err := c.getJSON(ctx, http.MethodGet, "/api/tags", nil, &r); err != nil {
		return nil, fmt.Errorf("listing models: %w", err)
	}
	return r.Models, nil
}

// Ps returns the models loaded in memory (GET /api/ps).
func (c *Client) Ps(ctx context.Context) ([]Model, error) {
	var r struct{ Models []Model }
	if err := c.getJSON(ctx, http.MethodGet, "/api/ps", nil, &r); err != nil {
		return nil, fmt.Errorf("listing running models: %w", err)
	}
	return r.Models, nil
}

// Delete removes a model.
func (c *Client) Delete(ctx context.Context, model string) error {
	if err := c.getJSON(ctx, http.MethodDelete, "/api/delete", map[string]string{"model": model}, nil); err != nil {
		return fmt.Errorf("removing %s: %w", model, err)
	}
	return nil
}

// Progress is one status line of a pull or create.
type Progress struct {
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`
	Total     int64  `json:"total,omitempty"`
	Completed int64  `json:"completed,omitempty"`
}

// stream reads newline-delimited JSON objects until the body ends, giving
// each to fn; an object with an "error" field ends it with that error.
func stream[T any](resp *http.Response, fn func(T) error) error {
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e struct{ Error string }
		if json.Unmarshal(line, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("reading answer: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Pull downloads a model from its registry (POST /api/pull).
func (c *Client) Pull(ctx context.Context, model string, progress func(Progress)) error {
	resp, err := c.request(ctx, http.MethodPost, "/api/pull", map[string]any{"model": model, "stream": true})
	if err != nil {
		return fmt.Errorf("pulling %s: %w", model, err)
	}
	if err := stream(resp, func(p Progress) error {
		if progress != nil {
			progress(p)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("pulling %s: %w", model, err)
	}
	return nil
}

// CreateOptions shape a model made by Create.
type CreateOptions struct {
	System     string
	Template   string
	Parameters map[string]any
}

// Create registers the GGUF file at path as model: the file is uploaded
// as a blob (POST /api/blobs/sha256:…, skipped when the server has it)
// and the model made from it (POST /api/create).
func (c *Client) Create(ctx context.Context, model, path string, opts CreateOptions, progress func(Progress)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", model, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("creating %s: reading %s: %w", model, path, err)
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	head, err := c.request(ctx, http.MethodHead, "/api/blobs/"+digest, nil)
	if err == nil {
		head.Body.Close()
	} else {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if progress != nil {
			progress(Progress{Status: "uploading " + filepath.Base(path), Digest: digest})
		}
		resp, err := c.request(ctx, http.MethodPost, "/api/blobs/"+digest, f)
		if err != nil {
			return fmt.Errorf("creating %s: uploading %s: %w", model, path, err)
		}
		resp.Body.Close()
	}
	body := map[string]any{"model": model, "files": map[string]string{filepath.Base(path): digest}, "stream": true}
	if opts.System != "" {
		body["system"] = opts.System
	}
	if opts.Template != "" {
		body["template"] = opts.Template
	}
	if len(opts.Parameters) > 0 {
		body["parameters"] = opts.Parameters
	}
	resp, err := c.request(ctx, http.MethodPost, "/api/create", body)
	if err != nil {
		return fmt.Errorf("creating %s: %w", model, err)
	}
	if err := stream(resp, func(p Progress) error {
		if progress != nil {
			progress(p)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("creating %s: %w", model, err)
	}
	return nil
}

// Message is one turn of a chat.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatOptions tune a generation. A zero Seed with Temperature 0 still
// gives repeatable answers.
type ChatOptions struct {
	Temperature *float64
	Seed        int
	NumPredict  int
}

// Chat sends messages (POST /api/chat) and calls token with each piece
// of the answer as it streams in; it returns the whole answer.
func (c *Client) Chat(ctx context.Context, model string, msgs []Message, opts ChatOptions, token func(string)) (string, error) {
	o := map[string]any{}
	if opts.Temperature != nil {
		o["temperature"] = *opts.Temperature
	}
	if opts.Seed != 0 {
		o["seed"] = opts.Seed
	}
	if opts.NumPredict != 0 {
		o["num_predict"] = opts.NumPredict
	}
	resp, err := c.request(ctx, http.MethodPost, "/api/chat", map[string]any{"model": model, "messages": msgs, "stream": true, "options": o})
	if err != nil {
		return "", fmt.Errorf("chatting with %s: %w", model, err)
	}
	var all strings.Builder
	err = stream(resp, func(r struct {
		Message Message `json:"message"`
		Done    bool    `json:"done"`
	}) error {
		all.WriteString(r.Message.Content)
		if token != nil && r.Message.Content != "" {
			token(r.Message.Content)
		}
		return nil
	})
	if err != nil {
		return all.String(), fmt.Errorf("chatting with %s: %w", model, err)
	}
	return all.String(), nil
}
