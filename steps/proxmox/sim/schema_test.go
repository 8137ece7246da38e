package sim

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestHandlersMatchSchema checks that every simulated method exists in the
// embedded PVE schema and that sync/async matches the schema's returns: a
// task-starting endpoint returns a string (the UPID), a synchronous one null.
func TestHandlersMatchSchema(t *testing.T) {
	t.Parallel()
	sc, err := loadSchema()
	if err != nil {
		t.Fatal(err)
	}
	async := map[string]bool{
		"POST /nodes/{node}/lxc": true, "DELETE /nodes/{node}/lxc/{vmid}": true,
		"POST /nodes/{node}/qemu": true, "DELETE /nodes/{node}/qemu/{vmid}": true,
		"POST /nodes/{node}/qemu/{vmid}/config": true,
		"PUT /nodes/{node}/lxc/{vmid}/resize":   true, "PUT /nodes/{node}/qemu/{vmid}/resize": true,
		"POST /nodes/{node}/lxc/{vmid}/clone": true, "POST /nodes/{node}/qemu/{vmid}/clone": true,
		"POST /nodes/{node}/qemu/{vmid}/template": true,
	}
	sync := map[string]bool{
		"PUT /nodes/{node}/lxc/{vmid}/config": true, "PUT /nodes/{node}/qemu/{vmid}/config": true,
		"POST /nodes/{node}/lxc/{vmid}/template": true, "PUT /nodes/{node}/qemu/{vmid}/cloudinit": true,
	}
	for key := range handlers {
		method, path, _ := strings.Cut(key, " ")
		rt := sc.routes[path]
		if rt == nil || rt.methods[method] == nil {
			t.Errorf("%s is not in the schema", key)
			continue
		}
		if strings.Contains(path, "/status/") && method == "POST" {
			async[key] = true
		}
		var ret struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(rt.methods[method].Returns, &ret); err != nil {
			t.Errorf("%s: returns: %v", key, err)
			continue
		}
		if async[key] && ret.Type != "string" {
			t.Errorf("%s is simulated as a task but the schema returns %q", key, ret.Type)
		}
		if sync[key] && ret.Type != "null" {
			t.Errorf("%s is simulated as synchronous but the schema returns %q", key, ret.Type)
		}
	}
}

func TestPropertyStrings(t *testing.T) {
	t.Parallel()
	sc, err := loadSchema()
	if err != nil {
		t.Fatal(err)
	}
	qemu := sc.routes["/nodes/{node}/qemu/{vmid}/config"].methods["PUT"]
	lxc := sc.routes["/nodes/{node}/lxc/{vmid}/config"].methods["PUT"]
	tests := []struct {
		mi      *methodInfo
		key, v  string
		wantErr string
	}{
		{qemu, "net0", "virtio,bridge=vmbr0", ""},
		{qemu, "net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1", ""},
		{qemu, "net0", "model=virtio,bridge=vmbr0", ""},
		{qemu, "net0", "nic9000,bridge=vmbr0", "value 'nic9000' does not have a value in the enumeration"},
		{qemu, "scsi0", "local-lvm:32,discard=on,ssd=1", ""},
		{qemu, "scsi0", "local-lvm:32,discard=sometimes", "scsi0.discard: value 'sometimes' does not have a value in the enumeration 'ignore, on'"},
		{qemu, "ipconfig3", "ip=dhcp", ""},
		{qemu, "memory", "current=2048", ""},
		{qemu, "memory", "2048", ""},
		{lxc, "rootfs", "local-zfs:8", ""},
		{lxc, "mp0", "local-zfs:8", "mp0.mp: property is missing and it is not optional"},
		{lxc, "features", "nesting=yes", ""},
		{lxc, "features", "nesting=perhaps", "nesting: type check ('boolean') failed - got 'perhaps'"},
		{lxc, "net0", "name=eth0,name=eth1", "duplicate key in comma-separated list property: name"},
		{lxc, "net0", "bridge=vmbr0", "net0.name: property is missing and it is not optional"},
		{lxc, "net01", "name=eth0", "property is not defined in schema"},
	}
	for _, tc := range tests {
		errs := tc.mi.validate(map[string]string{"node": "pve", "vmid": "100", tc.key: tc.v})
		got := errs[tc.key]
		if tc.wantErr == "" && len(errs) != 0 {
			t.Errorf("%s=%q: unexpected errors %v", tc.key, tc.v, errs)
		}
		if tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
			t.Errorf("%s=%q: error %q, want %q", tc.key, tc.v, got, tc.wantErr)
		}
	}
}
