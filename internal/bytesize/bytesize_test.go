package bytesize

import "testing"

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{300, "300 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{1 << 20, "1 MiB"},
		{150*(1<<20) + 200*(1<<10), "150.2 MiB"},
		{512 << 20, "512 MiB"},
		{3 << 29, "1.5 GiB"},
		{5 << 40, "5 TiB"},
		{2048 << 40, "2048 TiB"},
	} {
		if got := Format(tc.n); got != tc.want {
			t.Errorf("Format(%d) = %q, want %q", tc.n, got, tc.want)
		}
		if got := Format(int64(tc.n)); got != tc.want { //nolint:gosec // test sizes fit in an int64
			t.Errorf("Format(int64(%d)) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
