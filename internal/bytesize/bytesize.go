// Package bytesize renders byte counts for messages, in binary units
// ("300 B", "1 MiB", "150.2 MiB"). The policy checker and the sandbox both
// report limits in these words, so a limit reads the same wherever it is hit.
package bytesize

import "fmt"

// Count is an integer byte count.
type Count interface{ ~int64 | ~uint64 }

// Format renders n bytes: whole units as "512 MiB", others to one decimal
// ("1.5 GiB"), and less than a KiB as "300 B".
func Format[N Count](n N) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, suffix := N(unit), "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if n/div < unit {
			break
		}
		div, suffix = div*unit, u
	}
	if n%div == 0 {
		return fmt.Sprintf("%d %s", n/div, suffix)
	}
	return fmt.Sprintf("%.1f %s", float64(n)/float64(div), suffix)
}
