package freeipa

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Probe makes one read-only call with the configured user, for
// `runner doctor`: the JSON-RPC command ping (FreeIPA API reference:
// "Ping the remote IPA server to ensure it is running"), after the session
// login. It returns ping's summary (the server and API versions) and the
// server's time from the Date header of a HEAD on /ipa/ over the same
// client; zero if absent. The summary names the server that answered.
func (b *Backend) Probe(ctx context.Context) (string, time.Time, error) {
	if b.client == nil {
		return "", time.Time{}, errors.New("backend freeipa is not configured: add backends.freeipa to the runner config")
	}
	res, err := b.client.Call(ctx, "ping", nil, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	var out struct {
		Summary string `json:"summary"`
	}
	_ = json.Unmarshal(res, &out)
	var date time.Time
	srv := b.client.cur.Load()
	if req, err := http.NewRequestWithContext(ctx, http.MethodHead, srv.base+"/ipa/", nil); err == nil {
		if resp, err := srv.hc.Do(req); err == nil {
			_ = resp.Body.Close()
			date, _ = http.ParseTime(resp.Header.Get("Date"))
		}
	}
	return "ping: " + out.Summary + " (" + srv.base + ")", date, nil
}
