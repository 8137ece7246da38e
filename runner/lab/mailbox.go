package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// MailTo is the address the lab's runner mails its events to.
const MailTo = "ops@" + zone

// mailbox is the lab's local mail server: an SMTP server on loopback
// (github.com/emersion/go-smtp) that appends every message it receives to
// an mbox file in the lab directory, so the lab shows what the runner
// mails without a Postfix on the machine. The file is in the mboxrd format
// (RFC 4155: a "From " separator line before each message, ">"-quoted body
// lines that would look like one), which `mail -f FILE`, mutt -f and
// Thunderbird read.
type mailbox struct {
	path string
	mu   sync.Mutex // serializes appends
	srv  *smtp.Server
	done chan struct{}
}

// startMailbox serves SMTP on ln and appends what it receives to path.
func startMailbox(ln net.Listener, path string, errs io.Writer) (*mailbox, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("lab mailbox: %w", err)
	}
	m := &mailbox{path: path, done: make(chan struct{})}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: m}, nil }))
	m.srv.Domain = "lab." + zone
	m.srv.MaxMessageBytes = 10 << 20
	m.srv.ReadTimeout, m.srv.WriteTimeout = time.Minute, time.Minute
	m.srv.ErrorLog = log.New(errs, "lab: mailbox: ", 0)
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			fmt.Fprintf(errs, "lab: mailbox stopped: %v\n", err)
		}
	}()
	return m, nil
}

func (m *mailbox) close() {
	_ = m.srv.Close()
	<-m.done
}

// add appends one message received from the envelope sender from.
func (m *mailbox) add(from string, msg []byte) error {
	if from == "" {
		from = "MAILER-DAEMON"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From %s %s\n", from, time.Now().UTC().Format(time.ANSIC))
	msg = bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
	sc := bufio.NewScanner(bytes.NewReader(msg))
	sc.Buffer(make([]byte, 64<<10), len(msg)+1)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimLeft(line, ">"), "From ") {
			line = ">" + line // mboxrd quoting
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("\n")
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := os.OpenFile(m.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) //nolint:gosec // the lab's own directory
	if err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// mailSession is one SMTP session: it accepts any sender and recipient
// (the server listens on loopback only) and delivers each message once.
type mailSession struct {
	box  *mailbox
	from string
}

func (s *mailSession) Reset()        { s.from = "" }
func (s *mailSession) Logout() error { return nil }

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.box.add(s.from, b)
}

// ReadMailbox parses an mbox file the lab's mailbox wrote into its
// messages, oldest first (none when the file does not exist yet).
func ReadMailbox(path string) ([]*mail.Message, error) {
	b, err := os.ReadFile(path) //nolint:gosec // a path the caller names
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var msgs []*mail.Message
	var cur *bytes.Buffer
	flush := func() error {
		if cur == nil {
			return nil
		}
		m, err := mail.ReadMessage(bytes.NewReader(cur.Bytes()))
		if err != nil {
			return fmt.Errorf("mailbox %s, message %d: %w", path, len(msgs)+1, err)
		}
		msgs = append(msgs, m)
		return nil
	}
	prevBlank := true
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if prevBlank && strings.HasPrefix(line, "From ") {
			if err := flush(); err != nil {
				return nil, err
			}
			cur = &bytes.Buffer{}
			prevBlank = false
			continue
		}
		prevBlank = line == "\n"
		if cur == nil {
			continue
		}
		if q := strings.TrimLeft(line, ">"); len(q) < len(line) && strings.HasPrefix(q, "From ") {
			line = line[1:]
		}
		cur.WriteString(line)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return msgs, nil
}
