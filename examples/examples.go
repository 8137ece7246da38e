// Package examples embeds the example infra repos, so `runner lab` can seed
// its repository from examples/homelab without a source checkout.
package examples

import "embed"

// Homelab is examples/homelab: the reference homelab as an infra repo.
//
//go:embed homelab
var Homelab embed.FS
