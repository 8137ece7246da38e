package main

import (
	"encoding/json"
	"time"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// testBackend is the steptest backend as the "test" backend, configured from
// backends.test: {stateFile, fail: [IDs], delay}. Its world lives in
// stateFile so that separate runner processes share it. The CLI tests
// register it; end-to-end tests build the binary with -tags e2etest, which
// compiles it in (see e2etest.go). Production builds do not include it.
var testBackend = backendFactory{name: "test", build: func(raw json.RawMessage, _ *steps.Redactor, _ map[string]steps.Backend) (steps.Backend, error) {
	var c struct {
		StateFile string   `json:"stateFile"`
		Fail      []string `json:"fail"`
		Delay     string   `json:"delay"`
	}
	if raw != nil {
		if err := steps.DecodeStrict(raw, &c); err != nil {
			return nil, err
		}
	}
	b := steptest.New()
	if c.StateFile != "" {
		b = steptest.NewFile(c.StateFile)
	}
	for _, s := range c.Fail {
		id, err := steps.ParseID(s)
		if err != nil {
			return nil, err
		}
		b.Fail(id, steptest.Fault{Times: -1})
	}
	if c.Delay != "" {
		d, err := time.ParseDuration(c.Delay)
		if err != nil {
			return nil, err
		}
		b.Delay = d
	}
	return b, nil
}}
