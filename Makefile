GO       ?= go
PKGS     ?= ./...
FUZZTIME ?=


.PHONY: build test unit fuzz lint bench clean

build:
	CGO_ENABLED=0 $(GO) build -o bin/swarmops ./cmd/swarmops

# The test command: unit and integration tests (the Docker tests need an
# engine; with CI=true a missing engine fails them), then a bounded fuzz run.
test: unit fuzz

unit:
	$(GO) test -count=1 $(PKGS)

# Every fuzz target, each for a number of executions (about 20 s of each on
# a 2-core machine), or for FUZZTIME when it is given (e.g. FUZZTIME=5m). A
# count, not a duration: with -fuzztime as a duration, Go 1.26's fuzz
# coordinator can fail a target with a bare "context deadline exceeded" at
# the deadline (golang/go#75804). Minimising a new input can pause a run
# for a while; -fuzzminimizetime bounds it.
FUZZ_TARGETS = \
	./stackspec:FuzzLoad:500x \
	./cluster/apiserver:FuzzDecodeServiceSpec:200000x \
	./cluster/apiserver:FuzzDecodeFilters:150000x \
	./cluster/apiserver:FuzzDecodeWrites:10000x \
	./cluster/store:FuzzApply:3000x \
	./cluster/ca:FuzzParseToken:300000x \
	./reconciler:FuzzVerifyWebhook:60000x

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		if [ -n "$(FUZZTIME)" ]; then budget=$(FUZZTIME); fi; \
		echo "fuzz $$name ($$pkg) for $$budget"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$$budget -fuzzminimizetime=10s $$pkg; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

clean:
	rm -rf bin
