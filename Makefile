GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 30s


.PHONY: build test unit fuzz lint bench clean

build:
	CGO_ENABLED=0 $(GO) build -o bin/swarmops ./cmd/swarmops

# The test command: unit and integration tests (the Docker tests need an
# engine; with CI=true a missing engine fails them), then a bounded fuzz run.
test: unit fuzz

unit:
	$(GO) test -count=1 $(PKGS)

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzLoad$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s ./stackspec

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

clean:
	rm -rf bin
