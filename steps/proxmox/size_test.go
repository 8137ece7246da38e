package proxmox

import (
	"fmt"
	"testing"
)

// sizeSeeds are sizes in every form a spec may write, good and bad.
var sizeSeeds = []string{`"4GiB"`, `"512MiB"`, `" 1 TiB "`, `"512"`, `"1e3"`, `"-1GiB"`, `"1.5GiB"`, `"9999999999999TiB"`,
	`"4gib"`, `""`, `"\u0034GiB"`, `"4GiB\n"`, `"ü"`, `512`, `-0`, `1.5`, `1e3`, `99999999999999999999`, `true`, `{}`, `null`, `"`, `"x\"`}

// FuzzParseSize: parseSize, which reads a plain string with a unit without
// encoding/json, answers as parseSizeJSON does.
func FuzzParseSize(f *testing.F) {
	for _, s := range sizeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, gotErr := parseSize([]byte(in))
		want, wantErr := parseSizeJSON([]byte(in))
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("parseSize(%q) = %d, %v; want %d, %v", in, got, gotErr, want, wantErr)
		}
	})
}
