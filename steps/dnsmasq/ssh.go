package dnsmasq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitops-runner/gitops-runner/steps"
)

// SSH is how the runner reaches a site's DNS host: a login with a private
// key, the host key pinned in a known_hosts file.
type SSH struct {
	// Host is the DNS host's name or address.
	Host string `json:"host"`
	// Port is sshd's port (default 22).
	Port int `json:"port,omitempty"`
	// User is the login name on the DNS host.
	User string `json:"user"`
	// IdentityFile is the private key (OpenSSH or PEM format, without a
	// passphrase), readable only by the runner's user.
	IdentityFile string `json:"identityFile"`
	// KnownHostsFile pins the host key (OpenSSH known_hosts format, e.g.
	// from `ssh-keyscan -p PORT HOST`, checked by hand). An unknown or
	// changed key is refused; the runner never adds a key itself.
	KnownHostsFile string `json:"knownHostsFile"`
	// Timeout bounds connecting and the SSH handshake (default 15s).
	Timeout steps.Duration `json:"timeout,omitempty"`
}

// sshFS is the transport of a site reached over SSH. Files are read and
// replaced with remote shell commands on one connection, opened on first
// use and opened again when it broke: one command reads all files an
// Observe needs, one script replaces a file (write, dnsmasq --test, mv,
// reload). dnsmasq --test and the reload must run as remote commands
// anyway, so SFTP would add a second protocol (and a subsystem the host
// must enable) and more round trips, not fewer.
type sshFS struct {
	addr     string
	config   *ssh.ClientConfig
	identity string // the key file, for messages

	mu     sync.Mutex
	client *ssh.Client
}

// newSSH prepares an SSH transport; it reads the key and the known_hosts
// file now, so a missing or unreadable one is a config error. field is the
// config path for messages ("sites.flat1.ssh").
func newSSH(c *SSH) (*sshFS, error) {
	var p steps.Problems
	if c.Host == "" {
		p.Addf("host", "is required: the DNS host's name or address")
	}
	if c.User == "" {
		p.Addf("user", "is required: the login name on the DNS host")
	}
	if c.Port == 0 {
		c.Port = 22
	}
	if c.Port < 0 || c.Port > 65535 {
		p.Addf("port", "%d is out of range 1–65535", c.Port)
	}
	var signer ssh.Signer
	if c.IdentityFile == "" {
		p.Addf("identityFile", "is required: the private key file the runner logs in with")
	} else if key, err := os.ReadFile(c.IdentityFile); err != nil {
		p.Addf("identityFile", "%v", err)
	} else if err := keyPermsOK(c.IdentityFile); err != nil {
		p.Addf("identityFile", "%v", err)
	} else if signer, err = ssh.ParsePrivateKey(key); err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			p.Addf("identityFile", "%s is protected by a passphrase: the runner runs unattended, give it a key without one (readable only by the runner's user)", c.IdentityFile)
		} else {
			// The parser's message never quotes the key.
			p.Addf("identityFile", "%s is not a private key: %v", c.IdentityFile, err)
		}
	}
	var hostKeys ssh.HostKeyCallback
	if c.KnownHostsFile == "" {
		p.Addf("knownHostsFile", "is required: a known_hosts file with the DNS host's key (the runner never trusts a key on first use)")
	} else if cb, err := knownhosts.New(c.KnownHostsFile); err != nil {
		p.Addf("knownHostsFile", "%v", err)
	} else {
		hostKeys = cb
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	timeout := time.Duration(c.Timeout)
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	cfg := &ssh.ClientConfig{
		User:            c.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: pinned(hostKeys, c.KnownHostsFile),
		Timeout:         timeout,
	}
	// Offer only the key types known_hosts has for the host: otherwise the
	// server may present another type (say ed25519 where the file pins its
	// RSA key) and a good host would be refused as changed.
	cfg.HostKeyAlgorithms = knownAlgorithms(hostKeys, addr)
	return &sshFS{addr: addr, config: cfg, identity: c.IdentityFile}, nil
}

// keyPermsOK refuses a private key file that others may access, as
// OpenSSH does. ssh(1), FILES, ~/.ssh/id_ed25519: "These files contain
// sensitive data and should be readable by the user but not accessible by
// others (read/write/execute). ssh will simply ignore a private key file
// if it is accessible by others." Like OpenSSH (sshkey_perm_ok in
// authfile.c, which prints "UNPROTECTED PRIVATE KEY FILE!"), the check
// applies to a file owned by the runner's user: group or other
// permission bits set are refused.
func keyPermsOK(file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) == os.Getuid() && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: UNPROTECTED PRIVATE KEY FILE: permissions %#o are too open, others may read the key; run chmod 600 %s (ssh(1) ignores such a key too)", file, fi.Mode().Perm(), file)
	}
	return nil
}

// HostKeyError is a host key the known_hosts file does not accept: unknown
// (Known empty) or changed. Fingerprint is the key's SHA256 fingerprint, as
// ssh-keygen -l shows it.
type HostKeyError struct {
	Addr           string
	KnownHostsFile string
	Fingerprint    string
	Type           string
	// Known are the keys the file has for the host ("file:line").
	Known []string
}

func (e *HostKeyError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("host key of %s is unknown: %s key %s is not in %s; if it is the right key (compare with `ssh-keygen -lf` on the host), add it there (ssh-keyscan gives the line)",
			e.Addr, e.Type, e.Fingerprint, e.KnownHostsFile)
	}
	return fmt.Sprintf("host key of %s has CHANGED: it presents %s key %s, but %s pins another (%v); refusing to connect: if the host was reinstalled, check the new key and replace the line",
		e.Addr, e.Type, e.Fingerprint, e.KnownHostsFile, e.Known)
}

// pinned wraps a knownhosts callback so a refusal says which key was
// presented, by its fingerprint.
func pinned(cb ssh.HostKeyCallback, file string) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			he := &HostKeyError{Addr: hostname, KnownHostsFile: file, Fingerprint: ssh.FingerprintSHA256(key), Type: key.Type()}
			for _, k := range ke.Want {
				he.Known = append(he.Known, fmt.Sprintf("%s:%d", k.Filename, k.Line))
			}
			return he
		}
		return err
	}
}

// knownAlgorithms lists the host key algorithms the known_hosts callback has
// keys of for addr (nil: the library's defaults). It asks the callback with
// a key no file contains; the KeyError lists the known ones.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey{})
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algs []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algs = append(algs, a)
		}
	}
	for _, k := range ke.Want {
		t := k.Key.Type()
		if t == ssh.KeyAlgoRSA {
			// An RSA key signs with SHA-2 on current servers.
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
		}
		add(t)
	}
	return algs
}

// probeKey is a public key no known_hosts file contains.
type probeKey struct{}

func (probeKey) Type() string                        { return "probe" }
func (probeKey) Marshal() []byte                     { return []byte("\x00\x00\x00\x05probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

func (s *sshFS) where() string { return "ssh " + s.config.User + "@" + s.addr }

// conn returns the open connection, dialling when there is none.
func (s *sshFS) conn(ctx context.Context) (*ssh.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	d := net.Dialer{Timeout: s.config.Timeout}
	nc, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, steps.Transient(fmt.Errorf("connect to %s: %w", s.addr, err))
	}
	// ssh.ClientConfig.Timeout bounds only ssh.Dial's TCP connect: a host
	// that accepts and never speaks SSH would hold the handshake forever.
	// The deadline covers the handshake (and the run's context ends it
	// too); it is lifted for the sessions, which have their own.
	_ = nc.SetDeadline(time.Now().Add(s.config.Timeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(nc, s.addr, s.config)
	if !stop() { // the context ended during the handshake
		_ = nc.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		_ = nc.Close()
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return nil, steps.Transient(fmt.Errorf("ssh %s: no SSH handshake within %s (ssh.timeout): the host accepts connections but does not answer as an SSH server", s.addr, s.config.Timeout))
		}
		var he *HostKeyError
		if errors.As(err, &he) {
			return nil, he // never retried: a person must check the key
		}
		// x/crypto/ssh has no error type for a refused login: its
		// message is "ssh: unable to authenticate, attempted methods …".
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("ssh %s: the host refused user %s with the key in identityFile %s: add its public key to that user's ~/.ssh/authorized_keys on the host (ssh-keygen -y -f %s prints it): %w",
				s.addr, s.config.User, s.identity, s.identity, err)
		}
		return nil, fmt.Errorf("ssh %s: %w", s.addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	s.client = ssh.NewClient(c, chans, reqs)
	return s.client, nil
}

// commandError is a remote command that exited with a non-zero status.
type commandError struct {
	status int
	out    []byte // its stderr
	err    error
}

func (e *commandError) Error() string { return e.err.Error() }

// drop forgets a broken connection.
func (s *sshFS) drop(c *ssh.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == c {
		_ = c.Close()
		s.client = nil
	}
}

// exec runs a shell command line on the host with stdin, returning stdout;
// a non-zero exit is a *commandError with stderr. A connection that broke
// is opened again once.
func (s *sshFS) exec(ctx context.Context, cmd string, stdin []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c, err := s.conn(ctx)
		if err != nil {
			return nil, err
		}
		sess, err := s.session(ctx, c)
		if err != nil && ctx.Err() != nil {
			return nil, steps.Transient(fmt.Errorf("ssh %s: open session: %w", s.addr, ctx.Err()))
		}
		if err != nil {
			s.drop(c)
			if attempt == 0 {
				continue
			}
			return nil, steps.Transient(fmt.Errorf("ssh %s: open session: %w", s.addr, err))
		}
		var stdout, stderr bytes.Buffer
		sess.Stdin = bytes.NewReader(stdin)
		sess.Stdout, sess.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		go func() { done <- sess.Run(cmd) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			_ = sess.Close()
			s.drop(c) // a wedged server: Run returns once the connection is gone
			<-done
			return nil, steps.Transient(fmt.Errorf("ssh %s: %s: %w", s.addr, cmd, ctx.Err()))
		}
		_ = sess.Close()
		var ee *ssh.ExitError
		switch {
		case err == nil:
			return stdout.Bytes(), nil
		case errors.As(err, &ee):
			return stdout.Bytes(), &commandError{status: ee.ExitStatus(), out: stderr.Bytes(),
				err: fmt.Errorf("ssh %s: remote command exited with status %d: %s", s.addr, ee.ExitStatus(), strings.TrimSpace(stderr.String()))}
		default:
			s.drop(c)
			return nil, steps.Transient(fmt.Errorf("ssh %s: %s: %w", s.addr, cmd, err))
		}
	}
}

// commandTimeout bounds one remote command over SSH, session included:
// the commands read or install a few small files, so a command that takes
// longer is on a host that stopped answering.
const commandTimeout = 2 * time.Minute

// session opens a session on c, or gives up when ctx ends (dropping c: a
// server that accepted the connection may never answer the request).
func (s *sshFS) session(ctx context.Context, c *ssh.Client) (*ssh.Session, error) {
	type result struct {
		sess *ssh.Session
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		sess, err := c.NewSession()
		ch <- result{sess, err}
	}()
	select {
	case r := <-ch:
		return r.sess, r.err
	case <-ctx.Done():
		s.drop(c)
		if r := <-ch; r.sess != nil {
			_ = r.sess.Close()
		}
		return nil, ctx.Err()
	}
}

// read prints each file as its size in bytes on a line, then its bytes
// (-1: missing), all in one remote command.
func (s *sshFS) read(ctx context.Context, paths []string) ([][]byte, error) {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = shellQuote(p)
	}
	out, err := s.exec(ctx, `for f in `+strings.Join(q, " ")+`; do if [ -e "$f" ]; then wc -c < "$f" && cat -- "$f" || exit 1; else echo -1; fi; done`, nil)
	if err != nil {
		return nil, err
	}
	res := make([][]byte, len(paths))
	for i := range paths {
		line, rest, ok := bytes.Cut(out, []byte("\n"))
		n, err := strconv.Atoi(strings.TrimSpace(string(line)))
		if !ok || err != nil || n > len(rest) {
			return nil, fmt.Errorf("ssh %s: reading %s: unexpected output of the remote shell", s.addr, paths[i])
		}
		if n >= 0 {
			res[i] = rest[:n:n]
			rest = rest[n:]
		}
		out = rest
	}
	return res, nil
}

// Exit statuses of the install script.
const (
	exitTestRefused = 10
	exitRename      = 11
	exitReload      = 12
	exitWrite       = 13
)

// install runs one shell script on the host (sh -s, the script on stdin):
// the new file and the check configuration are here-documents, then
// dnsmasq --test, mv, and the reload. One session per file replacement:
// each session costs a login shell on the host.
func (s *sshFS) install(ctx context.Context, in installation) error {
	delim := heredocDelimiter(in.content, in.check)
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("umask 022")
	line("dst=%s; tmp=%s; chk=%s", shellQuote(in.path), shellQuote(in.path+newSuffix), shellQuote(in.path+checkSuffix))
	line(`cat > "$tmp" <<'%s' || { rm -f -- "$tmp"; exit %d; }`, delim, exitWrite)
	b.Write(in.content)
	line("%s", delim)
	line(`cat > "$chk" <<'%s' || { rm -f -- "$tmp" "$chk"; exit %d; }`, delim, exitWrite)
	b.Write(in.check)
	line("%s", delim)
	line(`out=$(%s --conf-file="$chk" 2>&1); rc=$?`, shellJoin(in.test))
	line(`rm -f -- "$chk"`)
	line(`if [ "$rc" -ne 0 ]; then rm -f -- "$tmp"; printf '%%s\n' "$out" >&2; exit %d; fi`, exitTestRefused)
	line(`mv -f -- "$tmp" "$dst" || { rm -f -- "$tmp"; exit %d; }`, exitRename)
	if len(in.reload) > 0 {
		line(`%s >&2 || exit %d`, shellJoin(in.reload), exitReload)
	} else {
		line(`pid=$(cat -- %s) && kill -HUP "$pid" || exit %d`, shellQuote(in.pidFile), exitReload)
	}
	_, err := s.exec(ctx, "sh -s", []byte(b.String()))
	var ce *commandError
	if !errors.As(err, &ce) {
		return err
	}
	out := strings.TrimSpace(string(ce.out))
	switch ce.status {
	case exitTestRefused:
		return &TestError{What: in.what, Output: out}
	case exitReload:
		return steps.Transient(&ReloadError{fmt.Errorf("on %s: %s", s.addr, out)})
	case exitRename:
		return fmt.Errorf("on %s: rename %s into place: %s", s.addr, in.path+newSuffix, out)
	case exitWrite:
		return fmt.Errorf("on %s: write next to %s: %s", s.addr, in.path, out)
	}
	return err
}

// run runs argv with stderr sent to stdout, so a failure's message has
// what the command said (a shell's "dnsmasq: not found", status 127).
func (s *sshFS) run(ctx context.Context, argv []string) ([]byte, error) {
	out, err := s.exec(ctx, shellJoin(argv)+" 2>&1", nil)
	var ce *commandError
	if errors.As(err, &ce) {
		return out, &commandError{status: ce.status, out: out,
			err: fmt.Errorf("ssh %s: %s exited with status %d: %s", s.addr, argv[0], ce.status, strings.TrimSpace(string(out)))}
	}
	return out, err
}

// heredocDelimiter is a here-document delimiter that is no line of the
// documents.
func heredocDelimiter(docs ...[]byte) string {
	for i := 0; ; i++ {
		d := "RUNNER_EOF_" + strconv.Itoa(i)
		clash := false
		for _, doc := range docs {
			for _, l := range strings.Split(string(doc), "\n") {
				clash = clash || l == d
			}
		}
		if !clash {
			return d
		}
	}
}
