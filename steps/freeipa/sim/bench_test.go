package sim

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkHostFind500 is one observation of 500 hosts (host_find all,
// sizelimit 0) against a server with 20 ms latency per request.
func BenchmarkHostFind500(b *testing.B) {
	s, _, c := newLab(b, func(o *Options) { o.Latency = 20 * time.Millisecond })
	for i := range 500 {
		if err := s.AddHost(fmt.Sprintf("h%03d.example.test", i), true); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		res := c.must(b, "host_find", nil, map[string]any{"all": true, "sizelimit": 0})
		if res["count"] != float64(500) {
			b.Fatalf("count = %v", res["count"])
		}
	}
}
