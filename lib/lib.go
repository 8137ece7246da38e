// Package lib embeds the Jsonnet library that infra repos import
// (`import 'runner.libsonnet'`). The runner resolves imports first inside the
// pushed commit, then here, so a repo needs no vendored copy.
package lib

import "embed"

// FS holds the library files (*.libsonnet).
//
//go:embed *.libsonnet
var FS embed.FS
