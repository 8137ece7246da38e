package proxmox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
)

// sizeSeeds are sizes in every form a spec may write, good and bad.
var sizeSeeds = []string{`"4GiB"`, `"512MiB"`, `" 1 TiB "`, `"512"`, `"1e3"`, `"-1GiB"`, `"1.5GiB"`, `"9999999999999TiB"`,
	`"4gib"`, `""`, `"\u0034GiB"`, `"4GiB\n"`, `"ü"`, `512`, `-0`, `1.5`, `1e3`, `99999999999999999999`, `true`, `{}`, `null`, `"`, `"x\"`}

// FuzzParseSize: parseSize, which reads a plain string without encoding/json,
// answers as the two json.Unmarshal calls it had (refParseSize).
func FuzzParseSize(f *testing.F) {
	for _, s := range sizeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, gotErr := parseSize([]byte(in))
		want, wantErr := refParseSize([]byte(in))
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("parseSize(%q) = %d, %v; want %d, %v", in, got, gotErr, want, wantErr)
		}
	})
}

// refParseSize is parseSize as it was: json.Unmarshal as a number, else as
// a string.
func refParseSize(b []byte) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s MiB is too large", n)
		}
		if err != nil {
			return 0, fmt.Errorf("%s is not a whole number of MiB", n)
		}
		return v, nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return 0, fmt.Errorf("want a size like \"4GiB\", \"512MiB\" or a number of MiB, got %s", b)
	}
	return parseUnits(str)
}
