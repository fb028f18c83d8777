package image

import (
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// memImage is an image whose manifest, config and layers are in memory,
// served exactly as read (no re-serialisation that could change a digest).
type memImage struct {
	manifest, config []byte
	layers           []*blobLayer
}

var _ partial.CompressedImageCore = (*memImage)(nil)

func (m *memImage) MediaType() (types.MediaType, error) {
	var mf struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(m.manifest, &mf); err != nil {
		return "", err
	}
	return mf.MediaType, nil
}
func (m *memImage) RawConfigFile() ([]byte, error) { return m.config, nil }
func (m *memImage) RawManifest() ([]byte, error)   { return m.manifest, nil }
func (m *memImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range m.layers {
		if l.digest == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer %s", h)
}
