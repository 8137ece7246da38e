package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errBadName is returned by normName for names Route 53 would reject.
var errBadName = errors.New("invalid domain name")

// normName turns a name as a client sends it into the simulator's internal
// form: fully qualified (trailing dot), ASCII letters in lower case, Route 53's
// \ooo octal escapes decoded to the raw byte.
//
// Route 53 treats a name with and without the trailing dot as identical and
// "stores alphabetic characters as lowercase letters (a-z), regardless of how
// you specify them" (Developer Guide, "DNS domain name format").
func normName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errBadName
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			v, digits, err := escape(s, i, 8)
			if !digits || err != nil {
				return "", errBadName
			}
			c, i = v, i+3
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c <= ' ' || c >= 0x7f {
			return "", errBadName
		}
		b.WriteByte(c)
	}
	n := b.String()
	if n == "." {
		return n, nil
	}
	if !strings.HasSuffix(n, ".") {
		n += "."
	}
	if len(n) > 255 {
		return "", errBadName
	}
	for _, l := range strings.Split(strings.TrimSuffix(n, "."), ".") {
		if l == "" || len(l) > 63 {
			return "", errBadName
		}
	}
	return n, nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// apiName renders an internal name the way Route 53 returns it: every byte
// other than a-z, 0-9, '-', '_' and the label dots as a \ooo octal escape
// (so "*.example.com." comes back as "\052.example.com.").
func apiName(n string) string {
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	return b.String()
}

// dnsName renders an internal name in miekg/dns presentation format
// (RFC 1035 \DDD decimal escapes; '*' stays literal for wildcards).
func dnsName(n string) string {
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '*':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	return b.String()
}

// fromDNSName converts a miekg/dns presentation name (a query name) to the
// internal form; it reports false for names that cannot be held internally.
func fromDNSName(q string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '\\' {
			v, digits, err := escape(q, i, 10)
			switch {
			case err != nil:
				return "", false
			case digits:
				c, i = v, i+3
			case i+1 < len(q):
				i++
				c = q[i]
			}
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	n := b.String()
	if !strings.HasSuffix(n, ".") {
		n += "."
	}
	return n, true
}

// escape reads the three-digit escape after the backslash at s[i]: Route
// 53's \ooo octal (base 8) or RFC 1035's \DDD decimal (base 10). digits is
// false when three digits of that base do not follow; err is set when they
// do but name a value above 255.
func escape(s string, i, base int) (c byte, digits bool, err error) {
	if i+3 >= len(s) {
		return 0, false, nil
	}
	for _, d := range []byte(s[i+1 : i+4]) {
		if d < '0' || int(d-'0') >= base {
			return 0, false, nil
		}
	}
	v, err := strconv.ParseUint(s[i+1:i+4], base, 8)
	return byte(v), true, err
}

// sortKey is the key Route 53 lists names by: labels reversed, trailing dot,
// compared as ASCII ("com.example.www."). API reference, ListResourceRecordSets
// "Sort order": the trailing dot matters for names with characters below '.'.
func sortKey(n string) string {
	if n == "." {
		return n
	}
	labels := strings.Split(strings.TrimSuffix(n, "."), ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".") + "."
}

// inZone reports whether name is the zone apex or below it.
func inZone(name, zone string) bool {
	return name == zone || zone == "." || strings.HasSuffix(name, "."+zone)
}

// parentName returns the name with its leftmost label removed ("." stays ".").
func parentName(n string) string {
	if n == "." {
		return n
	}
	i := strings.IndexByte(n, '.')
	if i == len(n)-1 {
		return "."
	}
	return n[i+1:]
}
