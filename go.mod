module github.com/swarmops/swarmops

go 1.26

require (
	github.com/docker/docker v28.5.2+incompatible
	github.com/spf13/cobra v1.10.2
)

require (
	github.com/docker/go-connections v0.8.2 // indirect
	github.com/docker/go-units v0.5.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/moby/docker-image-spec v1.3.1 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	gotest.tools/v3 v3.5.2 // indirect
)
