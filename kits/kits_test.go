package kits

import (
	"strings"
	"testing"
)

// Every catalog service runs berth's own image or says why berth builds
// none, and plan finds that reason by the image's name.
func TestImagesBuiltOrExplained(t *testing.T) {
	for _, k := range All() {
		for _, s := range k.Services {
			own := strings.HasPrefix(s.Image, "ghcr.io/voidnxlabs/")
			switch {
			case own && s.NoBuild != "":
				t.Errorf("%s: runs berth's image %s but says berth builds none", s.Container, s.Image)
			case !own && s.NoBuild == "":
				t.Errorf("%s: runs the upstream %s without saying why berth builds none", s.Container, s.Image)
			case !own && s.Image != s.Upstream:
				t.Errorf("%s: runs %s, which is neither berth's nor its upstream %s", s.Container, s.Image, s.Upstream)
			}
			if s.Upstream == "" || strings.HasPrefix(s.Upstream, "ghcr.io/voidnxlabs/") {
				t.Errorf("%s: upstream image %q", s.Container, s.Upstream)
			}
			if got := WhyNotBuilt(s.Image); got != s.NoBuild {
				t.Errorf("WhyNotBuilt(%s) = %q, want %q", s.Image, got, s.NoBuild)
			}
		}
	}
	if got := WhyNotBuilt("docker.io/library/busybox:latest"); got != "" {
		t.Errorf("WhyNotBuilt of an image outside the catalog = %q", got)
	}
}
