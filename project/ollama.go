package project

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/ollama"
)

// The Ollama use cases talk to ml-ollama's HTTP API at its private
// address, as the seed's ollama-list alias does: the container needs no
// client. Each checks that ml/ollama is enabled and runs
// (RunningService's errors); a model Ollama does not have is an error
// matching ollama.ErrNotFound, and one that does not answer an error with
// a hint, as are the others people can act on.

// ollamaClient is a client of the running ml-ollama.
func (p *Project) ollamaClient(ctx context.Context) (*ollama.Client, error) {
	r, err := p.RunningService(ctx, "ml", "ollama")
	if err != nil {
		return nil, err
	}
	return ollama.New(serviceURL(r.Container)), nil
}

// serviceURL is a service's address on its kit network, http://addr:port.
func serviceURL(dc *desired.Container) string {
	port := 0
	if len(dc.Listen) > 0 {
		port = int(dc.Listen[0])
	}
	return "http://" + net.JoinHostPort(dc.Address.String(), strconv.Itoa(port))
}

// ollamaError adds what to do about a model Ollama lacks, or an Ollama
// that does not answer.
func ollamaError(err error, model string) error {
	if errors.Is(err, ollama.ErrNotFound) {
		return hinted(err, fmt.Sprintf("see the models with 'berth ollama list'; get %s with 'berth ollama pull %s' or 'berth ollama create %s FILE.gguf'", model, model, model))
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return hinted(err, "check that Ollama answers: 'berth status ml-ollama' and 'berth logs ml-ollama'")
	}
	return err
}

// OllamaModels lists the models Ollama has, or with loaded those loaded
// in memory; never nil.
func (p *Project) OllamaModels(ctx context.Context, loaded bool) ([]ollama.Model, error) {
	c, err := p.ollamaClient(ctx)
	if err != nil {
		return nil, err
	}
	list := c.List
	if loaded {
		list = c.Ps
	}
	ms, err := list(ctx)
	if err != nil {
		return nil, ollamaError(err, "")
	}
	if ms == nil {
		ms = []ollama.Model{}
	}
	return ms, nil
}

// OllamaPull downloads a model from its registry, reporting Ollama's
// progress.
func (p *Project) OllamaPull(ctx context.Context, model string, progress func(ollama.Progress)) error {
	c, err := p.ollamaClient(ctx)
	if err != nil {
		return err
	}
	if err := c.Pull(ctx, model, progress); err != nil {
		return hinted(err, "Ollama downloads from its registry (registry.ollama.ai): without access, make a model from a local GGUF file with 'berth ollama create NAME FILE.gguf'")
	}
	return nil
}

// OllamaCreate uploads a local GGUF file to Ollama as a blob and
// registers a model made of it; nothing is downloaded. A file that does
// not exist is an error before Ollama is asked.
func (p *Project) OllamaCreate(ctx context.Context, model, file string, o ollama.CreateOptions, progress func(ollama.Progress)) error {
	if _, err := os.Stat(file); err != nil {
		return hinted(err, "name an existing GGUF file")
	}
	c, err := p.ollamaClient(ctx)
	if err != nil {
		return err
	}
	if err := c.Create(ctx, model, file, o, progress); err != nil {
		return hinted(err, "check that "+filepath.Base(file)+" is a GGUF model file")
	}
	return nil
}

// OllamaChat sends messages to a model and passes its answer to token as
// it streams in.
func (p *Project) OllamaChat(ctx context.Context, model string, msgs []ollama.Message, o ollama.ChatOptions, token func(string)) error {
	c, err := p.ollamaClient(ctx)
	if err != nil {
		return err
	}
	_, err = c.Chat(ctx, model, msgs, o, token)
	return ollamaError(err, model)
}

// OllamaRemove removes models, stopping at the first that fails.
func (p *Project) OllamaRemove(ctx context.Context, models ...string) error {
	c, err := p.ollamaClient(ctx)
	if err != nil {
		return err
	}
	for _, m := range models {
		if err := c.Delete(ctx, m); err != nil {
			return ollamaError(err, m)
		}
	}
	return nil
}
