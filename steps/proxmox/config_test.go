package proxmox_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
	"github.com/gitops-runner/gitops-runner/steps/proxmox/sim"
)

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	b := offline(t)
	want := "backend proxmox is not configured: add backends.proxmox to the runner config"
	if _, err := b.Observe(context.Background(), nil); err == nil || err.Error() != want {
		t.Errorf("observe: %v", err)
	}
	if _, err := b.Apply(context.Background(), steps.Change{Action: steps.Create}, nil); err == nil || err.Error() != want {
		t.Errorf("apply: %v", err)
	}
}

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	sum := sha256.Sum256(e.ts.Certificate().Raw)
	pin := strings.ToUpper(hex.EncodeToString(sum[:]))
	var colons []string
	for i := 0; i < len(pin); i += 2 {
		colons = append(colons, pin[i:i+2])
	}
	wrong := strings.Repeat("AB:", 31) + "AB"
	for _, tc := range []struct {
		name    string
		extra   map[string]any
		wantErr string
		warn    bool
	}{
		{"ca file", nil, "", false},
		{"fingerprint with colons", map[string]any{"caFile": nil, "fingerprint": strings.Join(colons, ":")}, "", false},
		{"wrong fingerprint", map[string]any{"caFile": nil, "fingerprint": wrong}, "does not match the pinned fingerprint", false},
		{"no CA", map[string]any{"caFile": nil}, "certificate", false},
		{"insecure", map[string]any{"caFile": nil, "insecureSkipVerify": true}, "", true},
	} {
		b := e.backend(tc.extra)
		_, err := b.Observe(context.Background(), nil)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
		if got := len(b.Warnings()) > 0; got != tc.warn {
			t.Errorf("%s: warnings = %q", tc.name, b.Warnings())
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	for _, tc := range []struct {
		extra map[string]any
		want  string
	}{
		{map[string]any{"token": "x"}, "field token: unknown field"},
		{map[string]any{"tokenId": "runner"}, "field tokenId: want USER@REALM!NAME"},
		{map[string]any{"url": nil}, "field url: is required"},
		{map[string]any{"fingerprint": "AB"}, "give one of caFile, fingerprint and insecureSkipVerify"},
		{map[string]any{"caFile": nil, "fingerprint": "AB"}, "field fingerprint"},
		{map[string]any{"tokenSecret": map[string]string{"env": "PVE_TOKEN_SECRET_UNSET_FOR_TEST"}}, "field tokenSecret"},
		{map[string]any{"taskTimeout": "soon"}, "duration"},
		{map[string]any{"parallelism": 0.5}, "parallelism"},
	} {
		_, err := proxmox.New(e.config(tc.extra), &steps.Redactor{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.extra, err, tc.want)
		}
	}
}

func TestTokenSecretIsRedacted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Options{}, nil)
	red := &steps.Redactor{}
	if _, err := proxmox.New(e.config(nil), red); err != nil {
		t.Fatal(err)
	}
	if got := red.Redact("token " + secret); strings.Contains(got, secret) {
		t.Errorf("the token secret is not registered for redaction: %s", got)
	}
	raw, _ := json.Marshal(e.config(nil))
	if strings.Contains(string(raw), secret) {
		t.Error("the config holds the secret itself")
	}
}
