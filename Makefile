# berth: the two set-up commands are `make demo` and `make test` (see README.md).
GO ?= go
export GOFLAGS ?= -buildvcs=false

.PHONY: build demo test test-heavy test-node test-fresh test-unit test-restart fuzz setup-ci vet

# A cold build prints nothing for minutes: heartbeat.sh says it still runs.
build:
	bash scripts/heartbeat.sh 'make build: go build -o bin/berth' $(GO) build -o bin/berth ./cmd/berth

# Builds the demo's images and brings up its five services (scripts/demo.sh).
demo: build
	bash scripts/demo.sh

# Installs and starts what the tests need (idempotent), then runs every test.
test: setup-ci
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	# a separate module: -mod=mod follows changes of berth's own go.mod
	cd bench/engine && $(GO) vet -mod=mod . && $(GO) test -mod=mod -count=1 .
	$(MAKE) fuzz
	$(MAKE) test-restart
	$(MAKE) test-node

# The services whose images are too heavy for make test's cold budget
# (README: "Heavy services"): dev-ml's PyTorch notebook trains a model
# through the proxy, and Open WebUI streams a chat from Ollama. CI does not run this target.
test-heavy: setup-ci
	BERTH_TEST_HEAVY=1 $(GO) test -count=1 -timeout 60m -run '^(TestDevMLTraining|TestChatUI)$$' -v ./e2e

# The demo's kits as pods on a real one-node Kubernetes cluster on this
# machine (root; scripts/testcp.sh start-node), last in `make test`: about
# 5 minutes warm, 6 more cold (README, docs/cluster.md). Alone, since it
# runs its own containerd, kubelet and CNI bridge.
test-node: setup-ci
	BERTH_TEST_NODE=1 $(GO) test -count=1 -timeout 60m -v -run '^TestDemoOnNode$$' ./cluster/nodetest

# Restarts dockerd under a running project; alone, because it would break
# engine tests running at the same time.
test-restart:
	BERTH_TEST_DOCKERD_RESTART=1 $(GO) test -count=1 -run '^TestDockerdRestart$$' ./internal/cli

# The README's order on a brand-new machine: make demo, then make test, with
# HOME, TMPDIR, XDG_CACHE_HOME, GOCACHE, GOMODCACHE and npm's cache in new
# empty directories under FRESH_DIR; prints the measured times.
FRESH_DIR ?= /var/tmp/berth-fresh
test-fresh:
	bash scripts/test-fresh.sh "$(FRESH_DIR)"

setup-ci:
	bash scripts/ci-setup.sh

# A short run of each fuzz target; the seed corpus lives in testdata/fuzz.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 10s ./config
	$(GO) test -run '^$$' -fuzz '^FuzzTar$$' -fuzztime 10s ./internal/extract
	$(GO) test -run '^$$' -fuzz '^FuzzTarBytes$$' -fuzztime 10s ./internal/extract
	$(GO) test -run '^$$' -fuzz '^FuzzRestoreManifest$$' -fuzztime 10s ./backup

test-unit:
	$(GO) test -short ./...
