package pipeline

import "testing"

// The heap growth of an evaluation never underflows when the live heap
// shrank (a GC ran) since the evaluation started.
func TestHeapGrowth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ base, now, want uint64 }{
		{100, 150, 50},
		{100, 100, 0},
		{100, 40, 0},
		{0, 1 << 30, 1 << 30},
	} {
		if got := heapGrowth(tc.base, tc.now); got != tc.want {
			t.Errorf("heapGrowth(%d, %d) = %d, want %d", tc.base, tc.now, got, tc.want)
		}
	}
}
