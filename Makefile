GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 20s


.PHONY: build test unit fuzz lint bench clean

build:
	CGO_ENABLED=0 $(GO) build -o bin/swarmops ./cmd/swarmops

# The test command: unit and integration tests (the Docker tests need an
# engine; with CI=true a missing engine fails them), then a bounded fuzz run.
test: unit fuzz

unit:
	$(GO) test -count=1 $(PKGS)

# Every fuzz target, each for FUZZTIME. Minimising a new input can pause a
# run for a while; -fuzzminimizetime bounds it.
FUZZ_TARGETS = \
	./stackspec:FuzzLoad \
	./cluster/apiserver:FuzzDecodeServiceSpec \
	./cluster/apiserver:FuzzDecodeFilters \
	./cluster/apiserver:FuzzDecodeWrites \
	./cluster/store:FuzzApply \
	./cluster/ca:FuzzParseToken

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s $$pkg; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

clean:
	rm -rf bin
