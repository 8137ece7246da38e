package sim

import "fmt"

// Error is a FreeIPA PublicError as the JSON-RPC envelope carries it:
// {"code": errno, "name": class name, "message": strerror, "data": kw}
// (ipaserver/rpcserver.py jsonserver.marshal). Codes, class names and
// message formats are those of ipalib/errors.py.
type Error struct {
	Code    int            `json:"code"`
	Name    string         `json:"name"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d): %s", e.Name, e.Code, e.Message) }

func newErr(code int, name, msg string, data map[string]any) *Error {
	if data == nil {
		data = map[string]any{}
	}
	return &Error{Code: code, Name: name, Message: msg, Data: data}
}

// Errors raised before a command runs (ipalib/errors.py 9xx, 3xxx).

func errVersion(cver, sver, server string) *Error {
	return newErr(901, "VersionError",
		fmt.Sprintf("%s client incompatible with %s server at '%s'", cver, sver, server),
		map[string]any{"cver": cver, "sver": sver, "server": server})
}

func errInternal() *Error { return newErr(903, "InternalError", "an internal error has occurred", nil) }

func errCommand(name string) *Error {
	return newErr(905, "CommandError", fmt.Sprintf("unknown command '%s'", name), map[string]any{"name": name})
}

func errJSON(reason string) *Error {
	return newErr(909, "JSONError", "Invalid JSON-RPC request: "+reason, map[string]any{"error": reason})
}

func errZeroArgument(name string) *Error {
	return newErr(3003, "ZeroArgumentError", fmt.Sprintf("command '%s' takes no arguments", name),
		map[string]any{"name": name})
}

func errMaxArgument(name string, n int) *Error {
	s := "s"
	if n == 1 {
		s = ""
	}
	return newErr(3004, "MaxArgumentError", fmt.Sprintf("command '%s' takes at most %d argument%s", name, n, s),
		map[string]any{"name": name, "count": n})
}

// errOption is frontend.Command.__options_2_params: "Unknown option: %(option)s".
func errOption(name string) *Error {
	return newErr(3005, "OptionError", "Unknown option: "+name, map[string]any{"option": name})
}

func errRequirement(name string) *Error {
	return newErr(3007, "RequirementError", fmt.Sprintf("'%s' is required", name), map[string]any{"name": name})
}

func errConversion(name, reason string) *Error {
	return newErr(3008, "ConversionError", fmt.Sprintf("invalid '%s': %s", name, reason),
		map[string]any{"name": name, "error": reason})
}

func errValidation(name, reason string) *Error {
	return newErr(3009, "ValidationError", fmt.Sprintf("invalid '%s': %s", name, reason),
		map[string]any{"name": name, "error": reason})
}

// Execution errors (ipalib/errors.py 4xxx).

func errNotFound(reason string) *Error {
	return newErr(4001, "NotFound", reason, map[string]any{"reason": reason})
}

// errNoEntry is LDAPObject.handle_not_found: "%(pkey)s: %(oname)s not found".
func errNoEntry(pkey, oname string) *Error {
	return errNotFound(fmt.Sprintf("%s: %s not found", pkey, oname))
}

// errDuplicate is LDAPObject.handle_duplicate_entry; the message is passed
// as message=, so data stays empty.
func errDuplicate(msg string) *Error { return newErr(4002, "DuplicateEntry", msg, nil) }

func errHostService() *Error {
	return newErr(4003, "HostService", "You must enroll a host in order to create a host service", nil)
}

func errRealmMismatch() *Error {
	return newErr(4005, "RealmMismatch", "The realm for the principal does not match the realm for this IPA server", nil)
}

func errDNSNotARecord(host string) *Error {
	return newErr(4019, "DNSNotARecordError",
		fmt.Sprintf("Host '%s' does not have corresponding DNS A/AAAA record", host),
		map[string]any{"hostname": host})
}

func errAttrValueNotFound(attr, value string) *Error {
	return newErr(4026, "AttrValueNotFound", fmt.Sprintf("%s does not contain '%s'", attr, value),
		map[string]any{"attr": attr, "value": value})
}

func errEmptyModlist() *Error {
	return newErr(4202, "EmptyModlist", "no modifications to be performed", nil)
}

func errMutuallyExclusive(reason string) *Error {
	return newErr(4303, "MutuallyExclusiveError", reason, map[string]any{"reason": reason})
}

// Member failure texts (ipapython/ipaldap.py, ipalib/errors.py) as they
// appear in the "failed" part of *_add_member answers.
const (
	msgNoSuchEntry   = "no such entry"
	msgAlreadyMember = "This entry is already a member"
	msgNotMember     = "This entry is not a member"
	msgSameGroup     = "A group may not be added as a member of itself"
)
