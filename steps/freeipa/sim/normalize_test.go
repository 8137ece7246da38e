package sim

import (
	"reflect"
	"testing"
)

// testKey is an ed25519 public key; ssh-keygen -lf prints its fingerprint
// as SHA256:B+Xnn7yKMmnRyMV2+4THWTJS7DeRL9ntnXraK7FxgDw.
const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINQzwTS8A/ml54OyTvafJzrUUtpJ44ogy11uvxLNhMmW admin@laptop"

// TestServiceFindByPrincipalWithoutRealm: service.py declares
// krbprincipalname and krbcanonicalname with normalizer=normalize_principal,
// and LDAPSearch takes its options from those params: a principal without
// @REALM finds the service, one with another realm is RealmMismatch.
func TestServiceFindByPrincipalWithoutRealm(t *testing.T) {
	t.Parallel()
	s, _, c := newLab(t, nil)
	if err := s.AddHost("web1.example.test", false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddService("HTTP/web1.example.test"); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"krbprincipalname", "krbcanonicalname"} {
		for _, v := range []string{"HTTP/web1.example.test", "HTTP/WEB1.example.test@EXAMPLE.TEST"} {
			res := c.must(t, "service_find", nil, map[string]any{opt: v})
			if res["count"] != float64(1) {
				t.Errorf("service_find %s=%s: count %v, want 1", opt, v, res["count"])
			}
		}
	}
	if e := c.fails(t, 4005, "service_find", nil, map[string]any{"krbprincipalname": "HTTP/web1.example.test@OTHER.TEST"}); e.Name != "RealmMismatch" {
		t.Errorf("other realm: %+v", e)
	}
}

// TestSSHPublicKeys: ipasshpubkey is validated (ipalib/util.py
// validate_sshpubkey) and host_show/user_show return the fingerprints
// (convert_sshpubkey_post: "SHA256:… comment (type)").
func TestSSHPublicKeys(t *testing.T) {
	t.Parallel()
	_, _, c := newLab(t, nil)
	wantFP := []any{"SHA256:B+Xnn7yKMmnRyMV2+4THWTJS7DeRL9ntnXraK7FxgDw admin@laptop (ssh-ed25519)"}
	c.must(t, "host_add", []any{"k.example.test"}, map[string]any{"force": true, "ipasshpubkey": []any{"  " + testKey + "\n"}})
	c.must(t, "user_add", []any{"alice"}, map[string]any{"givenname": "Alice", "sn": "A", "ipasshpubkey": testKey})
	for _, tc := range []struct{ cmd, key string }{{"host_show", "k.example.test"}, {"user_show", "alice"}} {
		res := c.must(t, tc.cmd, []any{tc.key}, map[string]any{"all": true})["result"].(map[string]any)
		if !reflect.DeepEqual(res["sshpubkeyfp"], wantFP) {
			t.Errorf("%s sshpubkeyfp = %v, want %v", tc.cmd, res["sshpubkeyfp"], wantFP)
		}
		if !reflect.DeepEqual(res["ipasshpubkey"], []any{testKey}) {
			t.Errorf("%s ipasshpubkey = %v, want the key in OpenSSH form", tc.cmd, res["ipasshpubkey"])
		}
	}
	for _, bad := range []string{"ssh-ed25519 notbase64!", "AAAAC3NzaC1lZDI1NTE5", testKey + "\nssh-rsa AAAA"} {
		e := c.fails(t, 3009, "user_mod", []any{"alice"}, map[string]any{"ipasshpubkey": bad})
		if e.Message != "invalid 'sshpubkey': invalid SSH public key" {
			t.Errorf("user_mod ipasshpubkey=%q: %q", bad, e.Message)
		}
	}
}

// TestSudoRuleOptions: sudorule_add_option / sudorule_remove_option
// (sudorule.py): ipasudoopt+ added or removed; adding one already set is
// DuplicateEntry, removing one not set AttrValueNotFound.
func TestSudoRuleOptions(t *testing.T) {
	t.Parallel()
	_, _, c := newLab(t, nil)
	c.must(t, "sudorule_add", []any{"admins"}, nil)
	res := c.must(t, "sudorule_add_option", []any{"admins"}, map[string]any{"ipasudoopt": []any{"!authenticate", "env_keep+=SSH_AUTH_SOCK"}})
	if got := res["result"].(map[string]any)["ipasudoopt"]; !reflect.DeepEqual(got, []any{"!authenticate", "env_keep+=SSH_AUTH_SOCK"}) {
		t.Errorf("after add: ipasudoopt = %v", got)
	}
	c.fails(t, 4002, "sudorule_add_option", []any{"admins"}, map[string]any{"ipasudoopt": "!authenticate"})
	c.fails(t, 3007, "sudorule_add_option", []any{"admins"}, nil)
	res = c.must(t, "sudorule_remove_option", []any{"admins"}, map[string]any{"ipasudoopt": "!authenticate"})
	if got := res["result"].(map[string]any)["ipasudoopt"]; !reflect.DeepEqual(got, []any{"env_keep+=SSH_AUTH_SOCK"}) {
		t.Errorf("after remove: ipasudoopt = %v", got)
	}
	if e := c.fails(t, 4026, "sudorule_remove_option", []any{"admins"}, map[string]any{"ipasudoopt": "!authenticate"}); e.Message != "ipasudoopt does not contain '!authenticate'" {
		t.Errorf("remove again: %q", e.Message)
	}
	show := c.must(t, "sudorule_show", []any{"admins"}, nil)["result"].(map[string]any)
	if !reflect.DeepEqual(show["ipasudoopt"], []any{"env_keep+=SSH_AUTH_SOCK"}) {
		t.Errorf("sudorule_show ipasudoopt = %v", show["ipasudoopt"])
	}
}
