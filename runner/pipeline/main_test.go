package pipeline_test

import (
	"os"
	"testing"

	"github.com/gitops-runner/gitops-runner/runner/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Serve() // Runner.Isolate runs this test binary as its evaluation child
	os.Exit(m.Run())
}
