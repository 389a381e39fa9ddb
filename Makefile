# Quick start: `make run` runs the platform, `make test` runs every test.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
# Without -trimpath a package's build-cache key includes the checkout's
# directory, so a fresh clone (CI's) compiled every package of the module
# again, twice, before the first test ran; with it, every checkout on a
# machine shares one cache, and stack traces name module paths.
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)

GO       ?= go
BIN      := bin/marketplace
TESTARGS ?=
# Test binaries are linked on every run and never debugged from make:
# without DWARF (-w) and the symbol table (-s) they link in a fifth less
# time; stack traces and race reports keep their files and lines.
TESTLINK := -ldflags='-s -w'
# The build's version and commit, from git, for `marketplace version` and the
# image's labels (a checkout without git history builds "dev"/"unknown").
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: run test test-short e2e chaos build migrate docs services vet fmt bench clean rules-check dashboards

## run: start every service in one process (target "all") with local defaults
run: services
	$(GO) run ./cmd/marketplace serve

## test: run every test against the local servers, and the Prometheus rules'
## unit tests. Every package's own tests run with the race detector. The
## platform's tests (cmd/marketplace: whole processes, browsers, journeys; about
## half the CPU of the suite) run without it, beside the others: the detector
## doubled their time (368 s against 177 s), which took make test past 10
## minutes on 2 cores. `make e2e` runs the journeys with it.
test: services tools rules-check
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	$(GO) test -race -count=1 $(TESTLINK) $(TESTARGS) $$($(GO) list ./... | grep -v /cmd/) & packages=$$!; \
	$(GO) test -count=1 $(TESTLINK) $(TESTARGS) ./cmd/...; platform=$$?; \
	wait $$packages; packages=$$?; exit $$((packages | platform))

## test-short: the inner loop (under 2 minutes here): every package, leaving out
## (-short) the end-to-end tests that start the whole platform, the long races and
## the argon2 timings, and without the race detector, which make test runs (it
## took the inner loop from 3m32s to 1m52s on 2 cores)
test-short: services tools rules-check
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	$(GO) test -short -count=1 $(TESTLINK) $(TESTARGS) ./...

## e2e: the journeys through the gateway: the documented script (every search
## under 1 s, on a cold catalog), and the Go journey in one process and split
e2e: services tools
	$(GO) test -race -count=1 -run 'TestE2E|TestJourneyScriptInTheDocs' -v ./cmd/marketplace/

## screenshots: photograph every page of the storefront, the seller centre and the
## admin console at desktop and phone width into docs/screenshots/ (the browser
## journeys, which also check accessibility and page weight, in Chromium)
.PHONY: screenshots
screenshots: services tools
	mkdir -p docs/screenshots
	WEB_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'TestWebJourneysInARealBrowser' -v ./cmd/marketplace/

## chaos: the fault suite (about 15 minutes; not part of make test): the
## platform with Toxiproxy between it and PostgreSQL, Redis, RabbitMQ and
## the payment provider (stripe-mock), faults under a mixed load,
## invariants checked after each; it writes bench/results/chaos.md
## (on a failure it ends with what each failed fault said: CI shows only the
## end of the output, and the whole log is in bin/chaos.log)
chaos: services tools
	@mkdir -p bin; set -o pipefail; \
	CHAOS=1 CHAOS_REPORT=$(CURDIR)/bench/results/chaos.md $(GO) test -count=1 -timeout 40m -run 'TestChaos' -v ./cmd/marketplace/ 2>&1 | \
		tee bin/chaos.log || { status=$$?; echo "make chaos failed; what each failed test said last:"; ./scripts/test-failures.sh bin/chaos.log; exit $$status; }

## build: build the one binary into bin/, static, with its version and commit
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags ferretdb_no_sqlite -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/marketplace

## image: build the release image (deploy/Dockerfile.release) with podman from
## a static binary built here; IMAGE names it (default localhost/marketplace:VERSION)
IMAGE ?= localhost/marketplace:$(VERSION)
.PHONY: image deploy-check
image:
	VERSION=$(VERSION) COMMIT=$(COMMIT) ./scripts/build-image.sh $(IMAGE)

## deploy-check: build the image and run the journey through it (podman,
## installed when missing), validate deploy/compose.yaml, and check the Helm chart
## (.ci/run runs it)
deploy-check: services tools
	./scripts/deploy-check.sh
	$(MAKE) chart-check

## migrate: apply every service's migrations and exit
migrate: services
	$(GO) run ./cmd/marketplace migrate

## docs: write docs/configuration.md, the README's list of targets and api/reference.html from the code
## (a test fails when either differs from what the code produces)
docs:
	$(GO) run ./cmd/marketplace docs --config-out=docs/configuration.md --readme=README.md
	$(GO) generate ./api

## services: start PostgreSQL, Redis and RabbitMQ if they are not running
services:
	@./scripts/local-services.sh

## tools: install the test tools this machine lacks (stripe-mock, the Stripe API
## mock; staticcheck, the static checks of `make test`; jq, which the
## documented journey script uses; chromium, which the storefront's browser
## test drives; prometheus and promtool, for the rules' tests and the
## end-to-end test with a real Prometheus)
.PHONY: tools
tools: prometheus-tools
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		sudo sh -c 'apt-get update -qq && apt-get install -y -qq chromium >/dev/null'
	@command -v jq >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; } || \
		sudo sh -c 'apt-get update -qq && apt-get install -y -qq jq >/dev/null'
	@command -v stripe-mock >/dev/null 2>&1 || [ -x "$$($(GO) env GOPATH | cut -d: -f1)/bin/stripe-mock" ] || \
		$(GO) install github.com/stripe/stripe-mock@v0.203.0
	@staticcheck -version 2>/dev/null | grep -qF '(0.8.2)' || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

## prometheus-tools: Debian's prometheus package (prometheus and promtool)
.PHONY: prometheus-tools
prometheus-tools:
	@{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; } || \
		sudo sh -c 'apt-get update -qq && apt-get install -y -qq prometheus >/dev/null'

## rules-check: check the Prometheus rules (deploy/prometheus) and run their
## unit tests with promtool (Debian's prometheus package, installed when missing)
rules-check: prometheus-tools
	promtool check rules deploy/prometheus/rules.yml
	cd deploy/prometheus/tests && promtool test rules *.yml

## dashboards: write the Grafana dashboards' JSON (deploy/grafana) from their Go
## definitions (a test fails when the files differ from the code)
dashboards:
	$(GO) generate ./deploy/grafana

## vet / fmt: static checks (vet and staticcheck, as `make test` runs them)
vet: tools
	$(GO) vet ./...
	staticcheck ./...
fmt:
	gofmt -l -w .

## bench: run the benchmarks (results are written down in bench/results/)
bench: services
	$(GO) test -run '^$$' -bench . -benchtime 5s ./...

## chart-sync: copy deploy/prometheus/*.yml and deploy/grafana/*.json into the
## Helm chart (a chart reads only its own files; chart-check fails on stale copies)
.PHONY: chart-sync chart-check
chart-sync:
	@for d in prometheus:yml grafana:json; do \
		src=deploy/$${d%%:*}; dst=deploy/helm/marketplace/files/$${d%%:*}; ext=$${d##*:}; \
		if [ -d $$src ]; then rm -f $$dst/*.$$ext && cp $$src/*.$$ext $$dst/ && echo "copied $$src/*.$$ext"; \
		else echo "no $$src" >&2; exit 1; fi; \
	done

## chart-check: render the Helm chart (deploy/helm, a Go module of its own so
## that this one does not depend on Kubernetes) for its three value sets and
## check every object: strict decoding, CRD schemas, security and network policies
chart-check:
	cd deploy/helm && $(GO) vet ./... && $(GO) test -count=1 ./...

clean:
	rm -rf bin data
