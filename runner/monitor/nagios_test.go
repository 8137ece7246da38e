package monitor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
)

// TestNagiosExample checks examples/nagios/runner.cfg with the real Nagios
// (Debian's nagios4-core: nagios4 -v), next to Debian's own object
// templates, which the example's service uses, as /etc/nagios4/conf.d
// would.
func TestNagiosExample(t *testing.T) {
	nagios, err := exec.LookPath("nagios4")
	if err != nil {
		nagios, err = exec.LookPath("/usr/sbin/nagios4")
	}
	if err != nil {
		testenv.Missing(t, "nagios4 not installed: apt-get install -y nagios4-core")
	}
	example, err := filepath.Abs("../../examples/nagios/runner.cfg")
	if err != nil {
		t.Fatal(err)
	}
	// Nagios reads and writes as the nagios user when started as root.
	dir, err := os.MkdirTemp("", "nagiostest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { //nolint:gosec // Nagios's temp_path, written by the nagios user
		t.Fatal(err)
	}
	files := map[string]string{
		// The owner's runner host; Debian ships no check-host-alive.
		"host.cfg": `define command {
    command_name    check-host-alive
    command_line    $USER1$/check_ping -H $HOSTADDRESS$ -w 3000.0,80% -c 5000.0,100% -p 5
}
define host {
    use             linux-server
    host_name       runner
    address         192.0.2.10
}
`,
		"resource.cfg": "$USER1$=/usr/lib/nagios/plugins\n",
		"nagios.cfg": strings.NewReplacer("DIR", dir, "EXAMPLE", example).Replace(`log_file=DIR/nagios.log
cfg_file=/etc/nagios4/objects/commands.cfg
cfg_file=/etc/nagios4/objects/contacts.cfg
cfg_file=/etc/nagios4/objects/timeperiods.cfg
cfg_file=/etc/nagios4/objects/templates.cfg
cfg_file=DIR/host.cfg
cfg_file=EXAMPLE
resource_file=DIR/resource.cfg
status_file=DIR/status.dat
temp_file=DIR/nagios.tmp
temp_path=DIR
check_result_path=DIR
lock_file=DIR/nagios.lock
object_cache_file=DIR/objects.cache
precached_object_file=DIR/objects.precache
illegal_macro_output_chars=` + "`~$&|'\"<>" + `
`),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil { //nolint:gosec // read by the nagios user
			t.Fatal(err)
		}
	}
	out, err := exec.Command(nagios, "-v", filepath.Join(dir, "nagios.cfg")).CombinedOutput() //nolint:gosec // the test's config
	if err != nil {
		t.Fatalf("nagios4 -v: %v\n%s", err, out)
	}
	for _, want := range []string{"Checked 1 services.", "Total Warnings: 0", "Total Errors:   0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nagios4 -v output lacks %q:\n%s", want, out)
		}
	}
}

// TestNagiosExampleFixesArguments: the example lets the nagios user run
// the plugin as the hosting user with fixed arguments only — no sudoers
// wildcard and no $ARGn$ — since an argument Nagios may choose could be
// --config FILE, whose evaluation errors show any file the hosting user can
// read (found in review: the sudoers line ended in "*").
func TestNagiosExampleFixesArguments(t *testing.T) {
	b, err := os.ReadFile("../../examples/nagios/runner.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "NOPASSWD:") && strings.Contains(line, "*") {
			t.Errorf("runner.cfg:%d: a sudoers wildcard lets the nagios user choose the arguments: %s", i+1, line)
		}
		if strings.Contains(line, "$ARG") {
			t.Errorf("runner.cfg:%d: Nagios passes arguments to the plugin: %s", i+1, line)
		}
	}
	if !strings.Contains(string(b), `command="/usr/bin/runner monitor --nagios --cert-warning`) {
		t.Error("runner.cfg: the authorized_keys example does not fix the thresholds in command=")
	}
}
