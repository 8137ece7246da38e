package freeipa

import (
	"fmt"
	"regexp"
)

// Code is a FreeIPA error code (ipalib/errors.py errno). The codes below
// match an *APIError with errors.Is: errors.Is(err, freeipa.NotFound).
type Code int

// Error codes the backend acts on (docs/api-facts.md §3, ipalib/errors.py).
const (
	VersionMismatch Code = 901  // VersionError
	OptionInvalid   Code = 3005 // OptionError: unknown option
	Requirement     Code = 3007 // RequirementError
	Conversion      Code = 3008 // ConversionError
	Validation      Code = 3009 // ValidationError
	NotFound        Code = 4001 // NotFound
	DuplicateEntry  Code = 4002 // DuplicateEntry
	AlreadyActive   Code = 4009 // AlreadyActive
	AlreadyInactive Code = 4010 // AlreadyInactive
	DNSNotARecord   Code = 4019 // DNSNotARecordError: the host name does not resolve
	EmptyModlist    Code = 4202 // EmptyModlist: nothing to change (a no-op for us)
	MutuallyExcl    Code = 4303 // MutuallyExclusiveError
)

var codeNames = map[Code]string{
	VersionMismatch: "VersionError", OptionInvalid: "OptionError", Requirement: "RequirementError",
	Conversion: "ConversionError", Validation: "ValidationError", NotFound: "NotFound",
	DuplicateEntry: "DuplicateEntry", AlreadyActive: "AlreadyActive", AlreadyInactive: "AlreadyInactive",
	DNSNotARecord: "DNSNotARecordError", EmptyModlist: "EmptyModlist", MutuallyExcl: "MutuallyExclusiveError",
}

func (c Code) Error() string {
	if n, ok := codeNames[c]; ok {
		return fmt.Sprintf("%s (%d)", n, int(c))
	}
	return fmt.Sprintf("FreeIPA error %d", int(c))
}

// APIError is a command error from the server: HTTP 200 with "error" set.
type APIError struct {
	Method  string
	Code    int
	Name    string
	Message string
	// Resent: the request was sent again after a transport failure, so an
	// earlier copy may have been carried out (a DuplicateEntry from *_add
	// may then be our own object).
	Resent bool
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %s (%d): %s", e.Method, e.Name, e.Code, e.Message)
}

// Is matches a Code.
func (e *APIError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && int(c) == e.Code
}

// VersionError is the server refusing the client's API version (901); Want
// is the server's API version, to put into the config's apiVersion.
type VersionError struct {
	Sent, Want, Message string
}

var serverVersionRE = regexp.MustCompile(`incompatible with (\S+) server`)

func newVersionError(sent string, e *wireError) *VersionError {
	v := &VersionError{Sent: sent, Message: e.Message}
	if s, ok := e.Data["sver"].(string); ok {
		v.Want = s
	} else if m := serverVersionRE.FindStringSubmatch(e.Message); m != nil {
		v.Want = m[1]
	}
	return v
}

func (e *VersionError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("the FreeIPA server rejects API version %s: %s", e.Sent, e.Message)
	}
	return fmt.Sprintf("the FreeIPA server rejects API version %s, it speaks %s: set backends.freeipa.apiVersion to %q", e.Sent, e.Want, e.Want)
}

// Is matches VersionMismatch.
func (e *VersionError) Is(target error) bool { return target == VersionMismatch }

// LoginError is a refused login (HTTP 401 from login_password); Reason is
// the X-IPA-Rejection-Reason header: invalid-password, password-expired,
// krbprincipal-expired, user-locked or denied.
type LoginError struct {
	User, Reason string
}

func (e *LoginError) Error() string {
	switch e.Reason {
	case "invalid-password":
		return fmt.Sprintf("wrong password for user %s (or no such user): check backends.freeipa.password", e.User)
	case "password-expired":
		return fmt.Sprintf("the password of user %s has expired: change it with kinit or the web UI", e.User)
	case "user-locked":
		return fmt.Sprintf("user %s is locked out after failed logins", e.User)
	case "krbprincipal-expired":
		return fmt.Sprintf("the Kerberos principal of user %s has expired", e.User)
	case "":
		return fmt.Sprintf("login as %s refused (401)", e.User)
	}
	return fmt.Sprintf("login as %s refused: %s", e.User, e.Reason)
}
