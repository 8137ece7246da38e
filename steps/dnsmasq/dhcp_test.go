package dnsmasq_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/internal/testenv"
	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/dnsmasq"
	"github.com/gitops-runner/gitops-runner/steps/steptest"
)

// dhcpScript runs in a new user and network namespace (unshare -rn): a
// veth pair, dnsmasq serving DHCP on one end with the site's
// dhcp-hostsfile, and a real DHCP client (ISC dhclient) asking on the other
// end, first with the reserved MAC, then with another one. It prints each
// lease's fixed-address line. dnsmasq runs with -d, which keeps it in the
// foreground and its user as it is (an unprivileged namespace cannot
// change users or groups); dhclient runs /bin/true instead of its script,
// so nothing outside the namespace (resolv.conf) is touched.
const dhcpScript = `set -eu
dir=$1 mac=$2 other=$3
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add "$SERVER_IP"/24 dev v0
ip link set v0 up
ip link set v1 address "$mac"
ip link set v1 up
"$DNSMASQ" -d --conf-file="$dir/dhcp.conf" 2>"$dir/dhcp-dnsmasq.log" &
srv=$!
trap 'kill $srv' EXIT
lease() {
  timeout 30 "$DHCLIENT" -4 -1 -sf /bin/true -lf "$dir/$1.lease" -pf "$dir/$1.pid" v1 >"$dir/$1.log" 2>&1
  kill "$(cat "$dir/$1.pid")" 2>/dev/null || true
  echo "$1: $(grep -m1 fixed-address "$dir/$1.lease")"
}
lease reserved
ip link set v1 down
ip link set v1 address "$other"
ip link set v1 up
lease other
`

// A DHCP reservation the runner wrote gets its address from a real DHCP
// client: a dnsmasq in a network namespace serves DHCP with flat1's
// dhcp-hostsfile as the backend wrote it; dhclient with the reserved MAC
// is offered and acked the reserved address, another MAC an address from
// the dynamic range. (The lab's loopback dnsmasq instances cannot serve
// DHCP: no broadcast medium, and port 67 needs privileges the test may not
// have outside a namespace.)
func TestDHCPReservationLeases(t *testing.T) {
	t.Parallel()
	prog := testenv.Program(t, "dnsmasq", "dnsmasq-base")
	dhclient := testenv.Program(t, "dhclient", "isc-dhcp-client")
	unshare := testenv.Program(t, "unshare", "util-linux")
	testenv.Program(t, "ip", "iproute2")
	if out, err := exec.Command(unshare, "-rn", "true").CombinedOutput(); err != nil { //nolint:gosec // unshare from LookPath
		testenv.Missing(t, "no unprivileged user and network namespaces here (unshare -rn: %v: %s)", err, out)
	}
	l := newLab(t)
	b := l.backend()
	flat1 := l.site("flat1")
	const mac, ip = "02:00:5e:10:00:07", "10.18.2.7"
	want := steptest.Decode(t, b, dnsmasq.KindDHCPHost, fmt.Sprintf(`{"site": "flat1", "mac": %q, "ip": %q, "hostname": "nas"}`, mac, ip))
	if c, err := step(t, b, steps.Target{ID: steps.ID{Kind: dnsmasq.KindDHCPHost, Name: "nas"}, Want: want}); err != nil || c.Action != steps.Create {
		t.Fatalf("create: %s %v", c.Action, err)
	}

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // dnsmasq reads its config from it
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "dhcp.conf"), strings.Join([]string{
		"port=0", "interface=v0", "bind-interfaces",
		"domain=" + flat1.domain,
		"dhcp-range=10.18.2.100,10.18.2.200,1h",
		"dhcp-hostsfile=" + flat1.dhcpHosts,
		"dhcp-leasefile=" + filepath.Join(dir, "leases"),
		"log-dhcp",
	}, "\n")+"\n")
	cmd := exec.CommandContext(t.Context(), unshare, "-rn", "sh", "-c", dhcpScript, "dhcp", dir, mac, "02:00:5e:10:00:99") //nolint:gosec // the test's script
	cmd.Env = append(os.Environ(), "DNSMASQ="+prog, "DHCLIENT="+dhclient, "SERVER_IP=10.18.2.1")
	out, err := cmd.CombinedOutput()
	logs := func() string {
		var b strings.Builder
		for _, f := range []string{"dhcp-dnsmasq.log", "reserved.log", "other.log"} {
			fmt.Fprintf(&b, "--- %s\n%s", f, read(t, filepath.Join(dir, f)))
		}
		return b.String()
	}
	if err != nil {
		t.Fatalf("%v: %s\n%s", err, out, logs())
	}
	if !regexp.MustCompile(`reserved:\s+fixed-address ` + regexp.QuoteMeta(ip) + `;`).Match(out) {
		t.Errorf("the reserved MAC did not get %s:\n%s\n%s", ip, out, logs())
	}
	m := regexp.MustCompile(`other:\s+fixed-address 10\.18\.2\.(\d+);`).FindStringSubmatch(string(out))
	if m == nil || len(m[1]) != 3 || m[1] < "100" || m[1] > "200" {
		t.Errorf("another MAC did not get an address of the dynamic range:\n%s\n%s", out, logs())
	}
}
