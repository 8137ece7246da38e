package clienttest

import (
	"log"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Pebble reads these in its constructors (docs/api-facts.md §6): no random
	// VA sleeps, no injected bad nonces, no authorization reuse (so every
	// order really solves DNS-01).
	for k, v := range map[string]string{"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"} {
		if err := os.Setenv(k, v); err != nil {
			log.Fatal(err)
		}
	}
	os.Exit(m.Run())
}
