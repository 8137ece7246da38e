package proxmox

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestStrained(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&APIError{Status: http.StatusServiceUnavailable}, true},
		{fmt.Errorf("GET /x: %w", &APIError{Status: 595, Kind: ErrNodeUnreachable}), true},
		{&APIError{Status: 596}, true},
		{&APIError{Status: http.StatusBadGateway}, false},
		{&APIError{Status: 500, Message: "can't lock file"}, false},
		{context.DeadlineExceeded, true}, // a net.Error with Timeout()
		{fmt.Errorf("plain"), false},
	} {
		if got := strained(tc.err); got != tc.want {
			t.Errorf("strained(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// The limit bounds what is in flight and halves on strain, down to 1.
func TestLimiterHalvesOnStrain(t *testing.T) {
	t.Parallel()
	l := newLimiter(8)
	var in, peak atomic.Int32
	run := func(n int) int32 {
		peak.Store(0)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if !l.acquire(context.Background()) {
					t.Error("acquire failed")
					return
				}
				defer l.release()
				v := in.Add(1)
				for {
					p := peak.Load()
					if v <= p || peak.CompareAndSwap(p, v) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				in.Add(-1)
			})
		}
		wg.Wait()
		return peak.Load()
	}
	if p := run(40); p > 8 || p < 2 {
		t.Errorf("peak in flight %d, want 2..8", p)
	}
	l.strain()
	l.strain()
	if p := run(40); p > 2 {
		t.Errorf("after two strains: peak in flight %d, want ≤ 2", p)
	}
	for range 5 {
		l.strain()
	}
	if n, lowered := l.now(); n != 1 || !lowered {
		t.Errorf("limit %d lowered %v, want 1 true", n, lowered)
	}
	// A waiter gives up when its context ends.
	l.acquire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if l.acquire(ctx) {
		t.Error("acquired past the limit")
	}
}
