# wasmgate developer entry points. `make test` is what CI runs.
GO      ?= go
BIN     := bin/wasmgate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: all build run test vet race norace sdk-test filters filters-test fuzz-smoke bench bench-go bench-load fmt fmt-check clean

all: build

build: filters ## build bin/wasmgate
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./gateway/cmd/wasmgate

run: filters build ## serve the embedded quickstart on 127.0.0.1:8080
	./$(BIN) run

test: filters fmt-check vet race norace sdk-test filters-test fuzz-smoke ## everything that proves the project
	@echo "make test: all checks passed"

# The plain path is Linux only; vetting for macOS too keeps its stand-ins
# (plain_other.go) in step with what the rest of the gateway calls.
vet:
	$(GO) vet $(PKGS)
	GOOS=darwin $(GO) vet ./gateway/...

# sdk/go is its own module (filter authors must not inherit the gateway's
# dependencies), so ./... at the top does not reach it.
sdk-test:
	cd sdk/go && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./... && $(GO) test -race -count=1 ./...

# The built-in filters (filters/NAME) are Go library modules of their own;
# filters/builtin links all three into filters/dist/builtin.wasm, the one
# module package filters embeds in the binary (each builtin:NAME stage runs
# it under root id NAME, so the stages share its compiled code).
FILTERS := routing auth headers

filters: ## build the built-in WASM filters into filters/dist
	cd filters/builtin && GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o ../dist/builtin.wasm .

filters-test:
	@set -e; for f in $(FILTERS) builtin; do \
	  (cd filters/$$f && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./... && $(GO) test -race -count=1 ./...); \
	done

race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# A second pass without the race detector: allocation guards (sync.Pool
# drops items under -race) and the tests that compile Go-built WASM filters
# (minutes under -race) run here.
norace:
	$(GO) test -count=1 -timeout 20m $(PKGS)

.PHONY: conformance
conformance: build ## the conformance suite against bin/wasmgate, as a table (RUN=regexp, JSON=file)
	./$(BIN) conformance -v $(if $(RUN),--run '$(RUN)') $(if $(JSON),--json '$(JSON)')

h2spec: ## HTTP/2 conformance (h2spec, TLS and h2c); fails on any failure not in hack/h2spec.sh's EXCEPTIONS
	bash hack/h2spec.sh

# Every fuzz target runs briefly so a crashing corpus entry fails CI: those
# of the main module, and those of the modules of their own (sdk/go and the
# filters), each listed from its own directory. Go 1.26's fuzz coordinator
# can fail a run with a bare "context deadline exceeded" when -fuzztime ends
# while a worker is busy (golang/go#75804, fixed in Go 1.27): a real finding
# always writes "Failing input written to ...", so a run that failed with
# the deadline and wrote nothing is run once more, and passes with a warning
# if it does the same again.
FUZZ_MODULES := . sdk/go filters/routing filters/auth filters/headers

fuzz-smoke:
	@set -e; for m in $(FUZZ_MODULES); do \
	  (cd $$m && $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do \
	    for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	      echo "fuzz $$pkg $$f"; \
	      log=$$(mktemp); \
	      for try in 1 2; do \
	        ok=; \
	        if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 5s $$pkg >$$log 2>&1; then ok=1; break; fi; \
	        if ! grep -q 'context deadline exceeded' $$log || grep -q 'Failing input written' $$log; then break; fi; \
	        echo "fuzz $$f: Go fuzz coordinator deadline race (golang/go#75804), no failing input"; ok=flake; \
	      done; \
	      if [ -z "$$ok" ]; then cat $$log; rm -f $$log; echo "fuzz $$f failed"; exit 1; fi; \
	      rm -f $$log; \
	    done; \
	  done) || exit 1; \
	done

bench: bench-go bench-load ## Go benchmarks, then the load benchmark against nginx/haproxy

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

bench-load: build
	bash hack/bench.sh

fmt:
	gofmt -w $$(git ls-files '*.go') 

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
