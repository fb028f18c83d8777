# berth: the two set-up commands are `make demo` and `make test` (see README.md).
GO ?= go
export GOFLAGS ?= -buildvcs=false

.PHONY: build demo test test-unit fuzz setup-ci vet

build:
	$(GO) build -o bin/berth ./cmd/berth

# Runs berth's main job on the demo config.
demo: build
	./bin/berth -f examples/demo.yaml plan --offline

# Installs and starts what the tests need (idempotent), then runs every test.
test: setup-ci
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) fuzz

setup-ci:
	bash scripts/ci-setup.sh

# A short run of each fuzz target; the seed corpus lives in testdata/fuzz.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 10s ./config

test-unit:
	$(GO) test -short ./...
