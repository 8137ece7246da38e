package sim

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseAPI checks the parser against the counts API.txt declares for
// every command ("args: nArgs,nOptions,nOutputs").
func TestParseAPI(t *testing.T) {
	t.Parallel()
	cmds, err := parseAPI(apiTXT)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	var name string
	for _, line := range strings.Split(apiTXT, "\n") {
		if n, ok := strings.CutPrefix(line, "command: "); ok {
			name, _, _ = strings.Cut(n, "/")
			continue
		}
		counts, ok := strings.CutPrefix(line, "args: ")
		if !ok {
			continue
		}
		declared++
		c := cmds[name]
		if c == nil {
			t.Fatalf("%s not parsed", name)
		}
		if got := fmt.Sprintf("%d,%d,%d", len(c.Args), len(c.Options), len(c.Outputs)); got != counts {
			t.Errorf("%s: parsed %s, declared %s", name, got, counts)
		}
	}
	if declared != len(cmds) || declared < 500 {
		t.Errorf("%d commands declared, %d parsed", declared, len(cmds))
	}
	ha := cmds["host_add"]
	if ha.Args[0].Name != "fqdn" || !ha.Args[0].Required || ha.Options["force"].Required ||
		!ha.Options["ipasshpubkey"].Multi || !ha.Options["userpassword"].Password ||
		ha.Options["krbprincipalauthind"].CLIName != "auth_ind" || len(ha.Options["krbprincipalauthind"].Values) != 6 {
		t.Errorf("host_add parsed as %+v", ha)
	}
	if ua := cmds["user_add"]; !ua.Options["givenname"].Required || ua.Options["cn"].Required {
		t.Errorf("user_add: givenname %+v cn %+v", ua.Options["givenname"], ua.Options["cn"])
	}
}

// TestHandlersInAPI: every simulated command exists in API.txt, so no
// handler can be reached with options API.txt does not know.
func TestHandlersInAPI(t *testing.T) {
	t.Parallel()
	cmds, err := parseAPI(apiTXT)
	if err != nil {
		t.Fatal(err)
	}
	for name := range handlers {
		if cmds[name] == nil {
			t.Errorf("handler %s has no API.txt command", name)
		}
	}
}
