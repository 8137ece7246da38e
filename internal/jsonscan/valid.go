package jsonscan

// maxDepth is how deep encoding/json lets objects and arrays nest
// (encoding/json/scanner.go, maxNestingDepth).
const maxDepth = 10000

// Valid reports whether data is one JSON value with only space around it,
// exactly as json.Valid does — nesting deeper than encoding/json's 10000
// refused, bytes that are not UTF-8 taken inside strings — in a fraction
// of its time: json.Valid steps a state machine through a function call
// per byte.
func Valid(data []byte) bool {
	s := &Scanner{data: data}
	s.space()
	if !s.valid(0) {
		return false
	}
	s.space()
	return s.Done()
}

// valid moves past the value at the position, checking it; depth is how
// many objects and arrays hold it.
func (s *Scanner) valid(depth int) bool {
	if s.pos >= len(s.data) {
		return false
	}
	switch s.data[s.pos] {
	case '{':
		if depth == maxDepth {
			return false
		}
		s.pos++
		s.space()
		if s.Byte('}') {
			return true
		}
		for {
			if _, ok := s.str(); !ok {
				return false
			}
			s.space()
			if !s.Byte(':') || !s.valid(depth+1) {
				return false
			}
			s.space()
			if s.Byte('}') {
				return true
			}
			if !s.Byte(',') {
				return false
			}
		}
	case '[':
		if depth == maxDepth {
			return false
		}
		s.pos++
		s.space()
		if s.Byte(']') {
			return true
		}
		for {
			if !s.valid(depth + 1) {
				return false
			}
			s.space()
			if s.Byte(']') {
				return true
			}
			if !s.Byte(',') {
				return false
			}
		}
	case '"':
		return s.validString()
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// validString moves past the string at the position, checking its escapes.
func (s *Scanner) validString() bool {
	for i := s.pos + 1; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(s.data) {
				return false
			}
			switch s.data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.data) {
					return false
				}
				for _, h := range s.data[i+1 : i+5] {
					if !isHex(h) {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// literal moves past word (true, false, null) at the position.
func (s *Scanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// number moves past the number at the position:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *Scanner) number() bool {
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	s.pos = i
	return true
}
