package simapi

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"", "anything", true},
		{"host_add", "host_add", true},
		{"host_add", "host_del", false},
		{"/nodes/*/lxc/*/config", "/nodes/pve/lxc/101/config", true},
		{"/nodes/*/lxc/*/config", "/nodes/pve/lxc/101/status/current", false},
		{"GET /nodes/{node}/lxc", "GET /nodes/{node}/lxc", true},
		{"GET /nodes/*/lxc", "POST /nodes/pve/lxc", false},
		{"[", "[", true}, // a malformed glob still matches itself
		{"[", "x", false},
	}
	for _, tc := range tests {
		if got := Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestFaultQueueOrderAndCounts(t *testing.T) {
	var q FaultQueue[string]
	q.Arm("op1", "a", 2)
	q.Arm("", "any", 1)
	q.Arm("op2", "never", 0) // n < 1 arms nothing
	if q.Len() != 3 {
		t.Fatalf("Len = %d, want 3", q.Len())
	}
	var got []string
	for _, name := range []string{"op2", "op1", "op1", "op1", "op3"} {
		f, ok := q.Take(name)
		if !ok {
			f = "-"
		}
		got = append(got, name+":"+f)
	}
	want := "[op2:any op1:a op1:a op1:- op3:-]"
	if fmt.Sprint(got) != want {
		t.Errorf("taken %v, want %s", got, want)
	}
	q.Arm("/x/*", "glob", 1)
	if _, ok := q.Take("GET /x/1", "/y/1"); ok {
		t.Error("glob matched a name it should not")
	}
	if f, ok := q.Take("GET /x/{id}", "/x/1"); !ok || f != "glob" {
		t.Errorf("Take by second name = %q, %v; want glob, true", f, ok)
	}
	q.Arm("", "x", 3)
	q.Reset()
	if _, ok := q.Take("op1"); ok || q.Len() != 0 {
		t.Error("Reset left faults armed")
	}
}

func TestCounters(t *testing.T) {
	var c Counters
	if s := c.Snapshot(); s.ByOp == nil || s.Total != 0 {
		t.Fatalf("zero snapshot = %+v, want empty ByOp map", s)
	}
	c.Request()
	c.Op("GET /a", false)
	c.Request()
	c.Op("PUT /a", true)
	c.Fault()
	s := c.Snapshot()
	if s.Total != 2 || s.Reads != 1 || s.Writes != 1 || s.Faults != 1 || s.ByOp["PUT /a"] != 1 || c.Count("GET /a") != 1 || c.Total() != 2 {
		t.Errorf("counts = %+v", s)
	}
	s.ByOp["PUT /a"] = 99 // the snapshot is a copy
	if c.Count("PUT /a") != 1 {
		t.Error("snapshot shares its map with the counters")
	}
	c.Reset()
	if s := c.Snapshot(); s.Total != 0 || len(s.ByOp) != 0 {
		t.Errorf("after Reset = %+v", s)
	}
}

func TestLogLimit(t *testing.T) {
	l := Log[int]{Limit: 3}
	for i := range 5 {
		l.Add(i)
	}
	if got := fmt.Sprint(l.Entries()); got != "[2 3 4]" {
		t.Errorf("entries = %s, want the newest three", got)
	}
	l.Reset()
	if len(l.Entries()) != 0 {
		t.Error("Reset left entries")
	}
	var unbounded Log[int]
	for i := range 100 {
		unbounded.Add(i)
	}
	if n := len(unbounded.Entries()); n != 100 {
		t.Errorf("zero Log kept %d entries, want 100", n)
	}
}

// TestConcurrent runs under -race: every armed fault is taken exactly once
// and every request is counted and logged once.
func TestConcurrent(t *testing.T) {
	var (
		c   Counters
		l   Log[int]
		q   FaultQueue[int]
		mu  sync.Mutex
		hit int
		wg  sync.WaitGroup
	)
	const workers, per, faults = 8, 200, 50
	q.Arm("op", 1, faults)
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				c.Request()
				c.Op("op", i%2 == 0)
				l.Add(w*per + i)
				if _, ok := q.Take("op"); ok {
					c.Fault()
					mu.Lock()
					hit++
					mu.Unlock()
				}
				_ = c.Snapshot()
			}
		})
	}
	wg.Wait()
	s := c.Snapshot()
	if s.Total != workers*per || s.Reads+s.Writes != workers*per || s.ByOp["op"] != workers*per {
		t.Errorf("counts = %+v, want %d requests", s, workers*per)
	}
	if hit != faults || s.Faults != faults || q.Len() != 0 {
		t.Errorf("faults taken %d (counted %d, left %d), want %d", hit, s.Faults, q.Len(), faults)
	}
	if n := len(l.Entries()); n != workers*per {
		t.Errorf("log has %d entries, want %d", n, workers*per)
	}
}

func TestDelay(t *testing.T) {
	if !Delay(context.Background(), 0) {
		t.Error("Delay(0) = false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Delay(ctx, time.Hour) {
		t.Error("Delay with a cancelled context = true")
	}
}
