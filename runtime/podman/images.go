package podman

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/voidnxlabs/berth/runtime"
)

// shortName strips what Podman adds to a short reference when it stores
// it: "localhost/" for a loaded image, "docker.io/library/" for a pulled
// official one.
func shortName(ref string) string {
	for _, p := range []string{"localhost/", "docker.io/library/", "docker.io/"} {
		if r, ok := strings.CutPrefix(ref, p); ok {
			return r
		}
	}
	return ref
}

// InspectImage reports an image present in the engine. Its ID is the
// config digest with Docker's "sha256:" prefix, and a stored name that is
// ref once qualified is reported as ref.
func (e *Engine) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	var res struct {
		ID       string   `json:"Id"`
		RepoTags []string `json:"RepoTags"`
		Size     int64    `json:"Size"`
	}
	if err := e.do(ctx, http.MethodGet, "/images/"+url.PathEscape(ref)+"/json", nil, nil, &res); err != nil {
		return runtime.Image{}, fmt.Errorf("inspecting image %q: %w", ref, err)
	}
	img := runtime.Image{ID: "sha256:" + strings.TrimPrefix(res.ID, "sha256:"), Size: res.Size}
	for _, t := range res.RepoTags {
		if t != ref && shortName(t) == shortName(ref) {
			t = ref
		}
		img.RepoTags = append(img.RepoTags, t)
	}
	return img, nil
}

// PullImage pulls ref, reporting each line of Podman's progress stream.
// A registry on loopback is reached over plain HTTP, as Docker does.
func (e *Engine) PullImage(ctx context.Context, ref string, progress func(runtime.ProgressEvent)) error {
	q := url.Values{"reference": {ref}, "policy": {"always"}}
	if loopbackRegistry(ref) {
		q.Set("tlsVerify", "false")
	}
	resp, err := e.send(ctx, http.MethodPost, "/images/pull", q, nil)
	if err != nil {
		return fmt.Errorf("pulling image %q: %w", ref, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
			ID     string `json:"id"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("pulling image %q: reading response: %w", ref, err)
		}
		if m.Error != "" {
			return fmt.Errorf("pulling image %q: %w", ref, mapErr(0, &apiError{Message: m.Error}))
		}
		if progress != nil && m.Stream != "" {
			progress(runtime.ProgressEvent{ID: m.ID, Status: strings.TrimSpace(m.Stream)})
		}
	}
}

// loopbackRegistry reports whether ref names a registry on this machine.
func loopbackRegistry(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	if !ok {
		return false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RemoveImage removes a reference, never forcing: an image in use stays.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	err := e.do(ctx, http.MethodDelete, "/images/"+url.PathEscape(ref), nil, nil, nil)
	if err != nil && strings.Contains(err.Error(), "in use by a container") {
		err = fmt.Errorf("%w: %v", runtime.ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("removing image %q: %w", ref, err)
	}
	return nil
}

// LoadImage loads a docker-archive (docker save) or OCI archive tarball
// and returns the names Podman stored it under.
func (e *Engine) LoadImage(ctx context.Context, tarball io.Reader) ([]string, error) {
	var res struct {
		Names []string `json:"Names"`
	}
	if err := e.do(ctx, http.MethodPost, "/images/load", nil, tarball, &res); err != nil {
		return nil, fmt.Errorf("loading image: %w", err)
	}
	return res.Names, nil
}
