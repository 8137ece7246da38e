// Package jsonscan walks JSON text without decoding it and without
// allocating: the runner's fast paths use it to check the shape of output
// that encoding/json (or json.Valid) has accepted, or to split it into
// values. It is no validator: it moves past a number or literal without
// reading it, and reports malformed text only where it notices.
package jsonscan

// Scanner reads JSON text from its position on.
type Scanner struct {
	data []byte
	pos  int
}

// New is a Scanner at the start of data, space skipped.
func New(data []byte) *Scanner {
	s := &Scanner{data: data}
	s.space()
	return s
}

// Done reports whether only space was left.
func (s *Scanner) Done() bool { return s.pos == len(s.data) }

// Next is the byte at the position, 0 at the end.
func (s *Scanner) Next() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// Byte reports whether the byte at the position is c (one of {}[]:,) and
// if so moves past it and the space after it.
func (s *Scanner) Byte(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		s.space()
		return true
	}
	return false
}

// String moves past the string at the position and the space after it.
// raw is the string with its quotes; plain reports that it has no escapes
// and only ASCII, so that raw[1:len(raw)-1] is its value.
func (s *Scanner) String() (raw []byte, plain, ok bool) {
	start := s.pos
	if plain, ok = s.str(); !ok {
		return nil, false, false
	}
	raw = s.data[start:s.pos]
	s.space()
	return raw, plain, true
}

// str moves past the string at the position (see String).
func (s *Scanner) str() (plain, ok bool) {
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return false, false
	}
	plain = true
	for i := s.pos + 1; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			return plain, true
		case c == '\\':
			plain = false
			i++
		case c < 0x20:
			return false, false
		case c >= 0x80:
			plain = false
		}
	}
	return false, false
}

// Key moves past an object key, the colon after it and the space around:
// raw and plain are as String's.
func (s *Scanner) Key() (raw []byte, plain, ok bool) {
	raw, plain, ok = s.String()
	if !ok || !s.Byte(':') {
		return nil, false, false
	}
	return raw, plain, true
}

// Skip moves past the value at the position, whatever it holds, and the
// space after it: raw is the value's text.
func (s *Scanner) Skip() (raw []byte, ok bool) {
	start, depth := s.pos, 0
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			if _, ok := s.str(); !ok {
				return nil, false
			}
		case c == '{' || c == '[':
			depth++
			s.pos++
		case c == '}' || c == ']':
			if depth == 0 {
				return nil, false
			}
			depth--
			s.pos++
		case c == ',' || c == ':' || isSpace(c):
			if depth == 0 {
				return nil, false // no value here
			}
			s.pos++
		default: // a number, true, false or null: up to what ends it
			for s.pos < len(s.data) && !endsScalar(s.data[s.pos]) {
				s.pos++
			}
		}
		if depth == 0 {
			raw = s.data[start:s.pos]
			s.space()
			return raw, true
		}
	}
	return nil, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// endsScalar reports whether c ends a number or literal.
func endsScalar(c byte) bool {
	return isSpace(c) || c == ',' || c == ':' || c == ']' || c == '}'
}

func (s *Scanner) space() {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
}
