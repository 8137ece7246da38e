package pipeline

import (
	"testing"
	"time"
)

// The pusher's split of a check's time: a step under a millisecond is
// "<1 ms", not "0 ms"; a kept evaluation says so.
func TestCheckTimesString(t *testing.T) {
	for _, tc := range []struct {
		in   CheckTimes
		want string
	}{
		{CheckTimes{Evaluate: 256 * time.Millisecond, Decode: 19 * time.Millisecond, Policy: 67 * time.Millisecond},
			"evaluation 256 ms, decode 19 ms, policies 67 ms"},
		{CheckTimes{Cached: true, Decode: 300 * time.Microsecond, Policy: 105 * time.Millisecond},
			"evaluation cached, decode <1 ms, policies 105 ms"},
		{CheckTimes{Evaluate: 40 * time.Millisecond}, "evaluation 40 ms"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.in, got, tc.want)
		}
	}
}
