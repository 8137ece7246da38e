package sim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ticket is a login ticket (pve-access-control PVE/AccessControl.pm
// assemble_ticket) with the CSRF prevention token issued with it.
type ticket struct {
	user    string
	csrf    string
	expires time.Time
}

// ticketLifetime is how long a ticket is valid (AccessControl.pm
// $ticket_lifetime: 2 hours; docs/api-facts.md §1).
const ticketLifetime = 2 * time.Hour

// validTicket returns the ticket's login when it was issued and has not
// expired.
func (s *Server) validTicket(t string) (ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, ok := s.tickets[t]
	if !ok || !s.now().Before(tk.expires) {
		return ticket{}, false
	}
	return tk, true
}

// hTicket is pve-access-control API2/AccessControl.pm create_ticket:
// username ("user@realm", or "user" with realm) and password, or a valid
// ticket of that user as the password (renewal, as proxmoxer does), give a
// new ticket and CSRFPreventionToken. Any failure is HTTP 401
// "authentication failure", saying nothing about which part was wrong.
func hTicket(s *Server, c *call) (any, *apiError) {
	user := c.params["username"]
	if realm := c.params["realm"]; realm != "" && !strings.Contains(user, "@") {
		user += "@" + realm
	}
	pw := c.params["password"]
	want, known := s.opts.Users[user]
	ok := known && user != "" && subtle.ConstantTimeCompare([]byte(want), []byte(pw)) == 1
	if old, valid := s.validTicket(pw); valid && old.user == user {
		ok = true
	}
	if !ok {
		return nil, &apiError{status: http.StatusUnauthorized, message: "authentication failure"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Ticket "PVE:<user>:<hex time>::<signature>" and CSRF token
	// "<hex time>:<signature>" (AccessControl.pm assemble_ticket,
	// assemble_csrf_prevention_token); here the signatures are random.
	tk := ticket{user: user, expires: now.Add(ticketLifetime),
		csrf: fmt.Sprintf("%08X:%s", now.Unix(), randomB64(32))}
	id := fmt.Sprintf("PVE:%s:%08X::%s", user, now.Unix(), randomB64(256))
	s.tickets[id] = tk
	return map[string]any{"username": user, "ticket": id, "CSRFPreventionToken": tk.csrf,
		"cap": map[string]any{}}, nil
}

// randomB64 is n random bytes in standard base64 without padding.
func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go ≥1.24)
	return base64.RawStdEncoding.EncodeToString(b)
}
