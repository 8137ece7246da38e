// Package postfixtest runs a private instance of the real Postfix (Debian
// package postfix) for tests of what the runner mails: its own
// configuration directory, queue and Maildir, an SMTP server on a loopback
// port, a sendmail wrapper bound to that configuration, and virtual(8)
// delivery of the test domain into a Maildir the test reads. Nothing of the
// host's own Postfix is touched.
//
// Postfix's master must be started by root (postfix(1)); the mail is
// submitted and delivered by Postfix's unprivileged daemons. Start fails
// (CI=true) or skips (otherwise) when postfix is missing or the test does
// not run as root.
package postfixtest

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitops-runner/gitops-runner/internal/daemontest"
)

// Domain is the mail domain the instance delivers locally; Address is its
// one mailbox.
const (
	Domain  = "homelab.test"
	Address = "ops@" + Domain
)

// Server is a running Postfix instance.
type Server struct {
	dir string
	// Sendmail is a program that submits through this instance (a wrapper
	// of Postfix's sendmail with -C pointing at its configuration).
	Sendmail string
	// SMTPAddr is its SMTP server ("127.0.0.1:port").
	SMTPAddr string
	postfix  string
}

// Start starts an instance and stops it when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	stop := tb.Skipf
	if os.Getenv("CI") == "true" {
		stop = tb.Fatalf
	}
	pf, err := exec.LookPath("postfix")
	if err != nil {
		pf, err = exec.LookPath("/usr/sbin/postfix")
	}
	if err != nil {
		stop("postfixtest: postfix not installed; install the Debian package: apt-get install -y postfix (debconf: postfix postfix/main_mailer_type select No configuration)")
		return nil
	}
	if os.Geteuid() != 0 {
		stop("postfixtest: starting Postfix's master needs root (postfix(1)); run the test as root")
		return nil
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		tb.Fatalf("postfixtest: the postfix user is missing (reinstall the postfix package): %v", err)
	}
	// Postfix's daemons run as the postfix user: every directory above the
	// queue must be searchable, so not t.TempDir (0700).
	dir, err := os.MkdirTemp("", "postfixtest-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // searchable by Postfix's daemons
		tb.Fatal(err)
	}
	s := &Server{dir: dir, postfix: pf, SMTPAddr: "127.0.0.1:" + strconv.Itoa(daemontest.FreePort(tb))}
	for _, d := range []string{"conf", "spool", "data", "mail"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil { //nolint:gosec // see above
			tb.Fatal(err)
		}
	}
	chown(tb, filepath.Join(dir, "data"), pfUser)
	chown(tb, filepath.Join(dir, "mail"), nobody)
	conf := filepath.Join(dir, "conf")
	// postconf(5): a null client on loopback that delivers Domain with
	// virtual(8) into Maildirs (a map value ending in "/") owned by nobody.
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = runner.test
mydomain = runner.test
myorigin = runner.test
mydestination =
relayhost =
virtual_mailbox_domains = %[2]s
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = texthash:%[1]s/conf/vmailbox
virtual_uid_maps = static:%[3]s
virtual_gid_maps = static:%[4]s
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtputf8_enable = no
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
`, dir, Domain, nobody.Uid, nobody.Gid)
	// master.cf(5): only the services this instance uses; nothing chrooted.
	masterCF := s.SMTPAddr + ` inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
virtual   unix  - n n -    - virtual
`
	files := map[string]string{
		"main.cf":   mainCF,
		"master.cf": masterCF,
		"vmailbox":  Address + " ops/\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(content), 0o644); err != nil { //nolint:gosec // Postfix reads it
			tb.Fatal(err)
		}
	}
	sm, err := exec.LookPath("sendmail")
	if err != nil {
		sm = "/usr/sbin/sendmail"
	}
	s.Sendmail = filepath.Join(dir, "sendmail")
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -C %s \"$@\"\n", sm, conf)
	if err := os.WriteFile(s.Sendmail, []byte(wrapper), 0o755); err != nil { //nolint:gosec // a program
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command(pf, "-c", conf, "stop").CombinedOutput(); err != nil { //nolint:gosec // our postfix
			tb.Logf("postfixtest: postfix stop: %v: %s", err, out)
		}
		if tb.Failed() {
			tb.Logf("postfixtest: maillog:\n%s", s.Log())
		}
		_ = os.RemoveAll(dir)
	})
	makeQueue(tb, filepath.Join(dir, "spool"), pfUser)
	if out, err := exec.Command(pf, "-c", conf, "start").CombinedOutput(); err != nil { //nolint:gosec // our postfix
		tb.Fatalf("postfixtest: postfix -c %s start: %v: %s\n%s", conf, err, out, s.Log())
	}
	// Ready when smtpd's socket accepts (master binds it before serving).
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("postfixtest: smtpd on %s never accepted: %v\n%s", s.SMTPAddr, err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// Log is the instance's mail log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "maillog"))
	return string(b)
}

// Messages returns the mails delivered to Address so far, oldest first:
// in the order of their files' modification times (a Maildir file name
// starts with the delivery's second, then sorts by inode, so two mails of
// one second came back in either order).
func (s *Server) Messages(tb testing.TB) []*mail.Message {
	tb.Helper()
	type delivered struct {
		path string
		at   time.Time
	}
	var files []delivered
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(s.dir, "mail", "ops", sub)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // no mail yet: virtual(8) creates the Maildir
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				tb.Fatal(err)
			}
			files = append(files, delivered{filepath.Join(dir, e.Name()), info.ModTime()})
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].at.Before(files[j].at) })
	out := make([]*mail.Message, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			tb.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			tb.Fatalf("postfixtest: delivered mail %s: %v", f.path, err)
		}
		out = append(out, m)
	}
	return out
}

// Settle waits until Postfix's queue is empty (every submitted mail was
// delivered or bounced) and returns the mails delivered, so a test can
// count them exactly. It fails the test after timeout.
func (s *Server) Settle(tb testing.TB, timeout time.Duration) []*mail.Message {
	tb.Helper()
	postqueue := filepath.Join(filepath.Dir(s.postfix), "postqueue")
	deadline := time.Now().Add(timeout)
	for {
		// The maildrop (submitted, not yet picked up) counts as queued too.
		drop, _ := os.ReadDir(filepath.Join(s.dir, "spool", "maildrop"))
		out, err := exec.Command(postqueue, "-c", filepath.Join(s.dir, "conf"), "-j").Output() //nolint:gosec // our postfix
		if err == nil && len(bytes.TrimSpace(out)) == 0 && len(drop) == 0 {
			return s.Messages(tb)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("postfixtest: queue not empty after %s: %s %v\n%s", timeout, out, err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Body is a message's text body, quoted-printable decoded (a message can
// be read once).
func Body(tb testing.TB, m *mail.Message) string {
	tb.Helper()
	r := m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Subject is a message's Subject header, RFC 2047 decoded.
func Subject(tb testing.TB, m *mail.Message) string {
	tb.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// makeQueue creates the queue directories as Postfix's post-install would
// (owners and modes of Debian's postfix-files), and the quick-start file
// that makes `postfix start` skip its integrity checks (postfix-script):
// they take seconds, a test runs many instances.
func makeQueue(tb testing.TB, spool string, pfUser *user.User) {
	tb.Helper()
	postdrop, err := user.LookupGroup("postdrop")
	if err != nil {
		tb.Fatalf("postfixtest: the postdrop group is missing (reinstall the postfix package): %v", err)
	}
	uid, _ := strconv.Atoi(pfUser.Uid)
	gid, _ := strconv.Atoi(postdrop.Gid)
	for _, d := range []struct {
		name string
		mode os.FileMode
		gid  int
	}{
		{"active", 0o700, 0}, {"bounce", 0o700, 0}, {"corrupt", 0o700, 0}, {"defer", 0o700, 0},
		{"deferred", 0o700, 0}, {"flush", 0o700, 0}, {"hold", 0o700, 0}, {"incoming", 0o700, 0},
		{"private", 0o700, 0}, {"saved", 0o700, 0}, {"trace", 0o700, 0},
		{"maildrop", 0o730, gid}, {"public", 0o710, gid},
	} {
		p := filepath.Join(spool, d.name)
		if err := os.Mkdir(p, d.mode); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(p, d.mode); err != nil { // not masked by the umask
			tb.Fatal(err)
		}
		if err := os.Chown(p, uid, d.gid); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(spool, "pid"), 0o755); err != nil { //nolint:gosec // as Postfix makes it
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, "quick-start"), nil, 0o644); err != nil { //nolint:gosec // an empty marker
		tb.Fatal(err)
	}
}

func chown(tb testing.TB, path string, u *user.User) {
	tb.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		tb.Fatal(err)
	}
}
