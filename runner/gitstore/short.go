package gitstore

// ShortLen is the length of an abbreviated commit hash in messages and
// reports, git's default for small repositories (core.abbrev).
const ShortLen = 7

// Short abbreviates a hex commit hash to ShortLen characters; a shorter
// string is returned as it is.
func Short(hash string) string {
	if len(hash) > ShortLen {
		return hash[:ShortLen]
	}
	return hash
}
