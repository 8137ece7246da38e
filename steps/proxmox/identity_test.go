package proxmox_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-runner/gitops-runner/steps"
	"github.com/gitops-runner/gitops-runner/steps/proxmox"
)

func TestIdentities(t *testing.T) {
	t.Parallel()
	b, err := proxmox.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lxc101 := decode(t, b, proxmox.KindLXC, lxcSpec)
	lxcNoID := decode(t, b, proxmox.KindLXC, strings.Replace(lxcSpec, `"vmid": 101, `, "", 1))
	vm101 := decode(t, b, proxmox.KindVM, strings.Replace(vmSpec, `"vmid": 104`, `"vmid": 101`, 1))
	vm104 := decode(t, b, proxmox.KindVM, vmSpec)
	ct, vm := id(proxmox.KindLXC, "blog"), id(proxmox.KindVM, "dokku")
	cases := []struct {
		name string
		t    steps.Target
		want []string
	}{
		{"wanted vmid", steps.Target{ID: ct, Want: lxc101}, []string{"vmid:101"}},
		{"a VM with the same vmid has the same key", steps.Target{ID: vm, Want: vm101}, []string{"vmid:101"}},
		{"wanted vmid wins over the last", steps.Target{ID: vm, Want: vm104, Last: vm101, State: json.RawMessage(`{"vmid":101,"node":"pve"}`)}, []string{"vmid:104"}},
		{"allocated vmid from the state", steps.Target{ID: ct, Want: lxcNoID, Last: lxcNoID, State: json.RawMessage(`{"vmid":117,"node":"pve"}`)}, []string{"vmid:117"}},
		{"last applied vmid", steps.Target{ID: ct, Want: lxcNoID, Last: lxc101}, []string{"vmid:101"}},
		{"delete candidate", steps.Target{ID: ct, Last: lxcNoID, State: json.RawMessage(`{"vmid":117,"node":"pve"}`)}, []string{"vmid:117"}},
		{"not known before create", steps.Target{ID: ct, Want: lxcNoID}, nil},
		{"unreadable state", steps.Target{ID: ct, Want: lxcNoID, Last: lxcNoID, State: json.RawMessage(`"garbage"`)}, nil},
	}
	for _, tc := range cases {
		if got := b.Identities(tc.t); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Identities = %q, want %q", tc.name, got, tc.want)
		}
	}
}
