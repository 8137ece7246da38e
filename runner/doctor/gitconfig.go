package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// gitConfigBool reads a boolean from a git config file with git itself
// (git config --file F --type=bool --get KEY), so includes and git's
// spellings of true ("yes", "on", "1") count. An unset key is false.
func gitConfigBool(file, key string) (bool, error) {
	out, err := exec.Command("git", "config", "--file", file, "--type=bool", "--get", key).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false, nil // git config: exit 1 means the key is not set
	}
	if err != nil {
		return false, fmt.Errorf("git config --file %s --get %s: %w", file, key, err)
	}
	return strings.TrimSpace(string(out)) == "true", nil
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

func sortStrings(s []string) { slices.Sort(s) }
