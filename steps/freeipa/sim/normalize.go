package sim

import (
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// normalizeParams applies the normalizers and validators FreeIPA declares
// on the params of an object to a bound command's params, search options
// included: LDAPSearch takes its options from the object's params, normalizer
// and all (ipalib/plugins/baseldap.py LDAPSearch.get_options), so
// service_find(krbprincipalname="HTTP/web1.example.test") searches for
// "HTTP/web1.example.test@REALM".
func (s *Server) normalizeParams(command string, params map[string]any) *Error {
	obj, _, _ := strings.Cut(command, "_")
	for name, v := range params {
		var norm func(string) (string, *Error)
		switch {
		case obj == "service" && (name == "krbcanonicalname" || name == "krbprincipalname"):
			// service.py: Principal('krbcanonicalname', validate_realm,
			// normalizer=normalize_principal), the same for krbprincipalname*.
			norm = s.principal
		case (obj == "host" || obj == "user") && name == "ipasshpubkey":
			// host.py, baseuser.py: Str('ipasshpubkey*', validate_sshpubkey,
			// normalizer=normalize_sshpubkey).
			norm = normalizeSSHPubKey
		default:
			continue
		}
		switch x := v.(type) {
		case string:
			n, err := norm(x)
			if err != nil {
				return err
			}
			params[name] = n
		case []string:
			out := make([]string, len(x))
			for i, one := range x {
				n, err := norm(one)
				if err != nil {
					return err
				}
				out[i] = n
			}
			params[name] = out
		}
	}
	return nil
}

// normalizeSSHPubKey is ipalib/util.py validate_sshpubkey +
// normalize_sshpubkey: a key that ipapython.ssh.SSHPublicKey cannot parse is
// ValidationError "invalid 'sshpubkey': invalid SSH public key"; a good one
// is stored in OpenSSH form (options, type, base64 key, comment).
func normalizeSSHPubKey(v string) (string, *Error) {
	v = strings.TrimSpace(v)
	// ParseAuthorizedKey skips lines it cannot parse; SSHPublicKey takes one
	// key, so a second line makes the value invalid.
	pub, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(v))
	if err != nil || strings.ContainsAny(v, "\r\n") {
		return "", errValidation("sshpubkey", "invalid SSH public key")
	}
	out := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pub)), "\n")
	if len(options) > 0 {
		slices.Sort(options) // SSHPublicKey.openssh() writes them sorted by name
		out = strings.Join(options, ",") + " " + out
	}
	if comment != "" {
		out += " " + comment
	}
	return out, nil
}

// sshFingerprints is ipalib/util.py convert_sshpubkey_post: for each stored
// key "SHA256:<unpadded base64 of the key blob's SHA-256> [comment ](type)",
// the sshpubkeyfp output of host_* and user_* commands.
func sshFingerprints(keys []string) []string {
	var out []string
	for _, k := range keys {
		pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
		if err != nil {
			continue // convert_sshpubkey_post skips keys it cannot parse
		}
		fp := ssh.FingerprintSHA256(pub)
		if comment != "" {
			fp += " " + comment
		}
		out = append(out, fp+" ("+pub.Type()+")")
	}
	return out
}
