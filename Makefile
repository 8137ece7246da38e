# Build the gitops-runner Debian package: `make deb` writes
# build/gitops-runner_<version>_<arch>.deb. It needs only Go and the Go module
# proxy: nfpm is run at a pinned version with `go run`, so it is not a
# dependency of the module (go.mod stays the runner's own).
NFPM_VERSION := v2.45.2
NFPM := go run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

# A Debian version must start with a digit: 0.0~git<commit time>.<commit>.
VERSION ?= 0.0~git$(shell git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0).$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DEB_ARCH ?= $(shell go env GOARCH)

.PHONY: deb runner clean

deb: runner
	VERSION='$(VERSION)' DEB_ARCH='$(DEB_ARCH)' $(NFPM) package --config packaging/nfpm.yaml --packager deb --target build/

runner:
	mkdir -p build
	CGO_ENABLED=0 GOOS=linux GOARCH=$(DEB_ARCH) go build -buildvcs=auto -o build/runner ./runner

clean:
	rm -rf build
