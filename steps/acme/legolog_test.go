package acme

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	legolog "github.com/go-acme/lego/v4/log"
	"github.com/sirupsen/logrus"
)

// TestRouteLegoLog: lego's own lines follow the runner's log level and
// format (issue 17, item 7: 167 "[INFO]" lines in plain text in a lab run
// with --log-level warn --log-format json).
func TestRouteLegoLog(t *testing.T) {
	saved := legolog.Logger
	t.Cleanup(func() { legolog.Logger = saved })
	var out bytes.Buffer
	l := logrus.New()
	l.Out = &out
	l.Formatter = &logrus.JSONFormatter{}
	l.Level = logrus.WarnLevel
	RouteLegoLog(l)

	legolog.Infof("[%s] acme: Obtaining bundled SAN certificate", "www.mydomain.com")
	legolog.Warnf("[%s] acme: error cleaning up: %v", "www.mydomain.com", "boom")
	legolog.Println("plain line")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines at --log-level warn, want 1 (the warning):\n%s", len(lines), out.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON: %s", lines[0])
	}
	if m["level"] != "warning" || m["msg"] != "[www.mydomain.com] acme: error cleaning up: boom" || m["component"] != "lego" {
		t.Errorf("line = %v", m)
	}

	out.Reset()
	l.Level = logrus.InfoLevel
	legolog.Infof("[%s] acme: Obtaining bundled SAN certificate", "www.mydomain.com")
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m["level"] != "info" || m["msg"] != "[www.mydomain.com] acme: Obtaining bundled SAN certificate" {
		t.Errorf("info line = %s", out.String())
	}
}
