package proxmox

// This file holds Proxmox's configuration strings: parsing the property
// strings of a guest's config ("name=eth0,bridge=vmbr0", "8G", startup
// order) and writing the ones Apply sends (net0, ipconfig0, mp0, features,
// tags, SSH keys), as pve-apidata.json describes each format.

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// props parses a PVE property string ("name=eth0,bridge=vmbr0"); a part
// without "=" is the value of defaultKey.
func props(s, defaultKey string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			m[defaultKey] = part
			continue
		}
		m[k] = v
	}
	return m
}

// diskSizeMiB parses a PVE disk size ("8G", "512M", "1T", bytes).
func diskSizeMiB(s string) int64 {
	if s == "" {
		return 0
	}
	mult := map[byte]float64{'K': 1.0 / 1024, 'M': 1, 'G': 1024, 'T': 1 << 20}
	if m, ok := mult[s[len(s)-1]]; ok {
		v, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil {
			return 0
		}
		return int64(v * m)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return v >> 20
}

func atoi(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}

func indexed(conf map[string]string, prefix string) []int {
	var out []int
	for k := range conf {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Ints(out)
	return out
}

func parseStartup(s string) *Startup {
	if s == "" {
		return nil
	}
	p := props(s, "order")
	return &Startup{Order: atoi(p["order"]), Up: atoi(p["up"]), Down: atoi(p["down"])}
}

func formatStartup(s *Startup) string {
	if s == nil {
		return ""
	}
	var parts []string
	if s.Order != 0 {
		parts = append(parts, "order="+strconv.Itoa(s.Order))
	}
	if s.Up != 0 {
		parts = append(parts, "up="+strconv.Itoa(s.Up))
	}
	if s.Down != 0 {
		parts = append(parts, "down="+strconv.Itoa(s.Down))
	}
	return strings.Join(parts, ",")
}

func userTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if t != OwnerTag {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// liveTags renders live tags like joinTags: the owner tag (if there) first.
func liveTags(tags []string) string {
	user := userTags(tags)
	if len(user) < len(tags) {
		return joinTags(user)
	}
	return strings.Join(user, ";")
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func joinTags(user []string) string {
	return strings.Join(append([]string{OwnerTag}, user...), ";")
}

func liveMAC(l *Live, key string) string {
	if l == nil {
		return ""
	}
	p := props(l.Config[key], "")
	if m := p["hwaddr"]; m != "" {
		return m
	}
	for m := range vmModels {
		if v := p[m]; v != "" {
			return v
		}
	}
	return ""
}

// netString renders a net[n] property string; the MAC (the given one or the
// live one) is always sent, or Proxmox would assign a new one.
func netString(kind string, n Network, mac string) string {
	var parts []string
	if kind == KindLXC {
		parts = append(parts, "name="+n.Name, "bridge="+n.Bridge)
		if mac != "" {
			parts = append(parts, "hwaddr="+mac)
		}
		if n.IP != "" {
			parts = append(parts, "ip="+n.IP)
		}
		if n.Gateway != "" {
			parts = append(parts, "gw="+n.Gateway)
		}
		parts = append(parts, "type=veth")
	} else {
		if mac != "" {
			parts = append(parts, n.Model+"="+mac)
		} else {
			parts = append(parts, "model="+n.Model)
		}
		parts = append(parts, "bridge="+n.Bridge)
	}
	if n.VLAN != 0 {
		parts = append(parts, "tag="+strconv.Itoa(n.VLAN))
	}
	if n.Firewall {
		parts = append(parts, "firewall=1")
	}
	return strings.Join(parts, ",")
}

func ipconfigString(n Network) string {
	s := "ip=" + n.IP
	if n.Gateway != "" {
		s += ",gw=" + n.Gateway
	}
	return s
}

func featuresString(f Features) string {
	var parts []string
	if f.Fuse {
		parts = append(parts, "fuse=1")
	}
	if f.Keyctl {
		parts = append(parts, "keyctl=1")
	}
	if f.Nesting {
		parts = append(parts, "nesting=1")
	}
	return strings.Join(parts, ",")
}

func mountString(m Mount) string {
	s := fmt.Sprintf("%s:%d,mp=%s", m.Storage, m.Size.MiB/1024, m.Path)
	if m.Backup {
		s += ",backup=1"
	}
	return s
}

func propString(p map[string]string, defaultKey string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != defaultKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	if v, ok := p[defaultKey]; ok {
		parts = append(parts, v)
	}
	for _, k := range keys {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, ",")
}

// encodeSSHKeys URL-encodes keys as qemu's sshkeys wants (docs/api-facts.md §1:
// qemu sshkeys is urlencoded, unlike LXC ssh-public-keys).
func encodeSSHKeys(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return strings.ReplaceAll(url.QueryEscape(strings.Join(keys, "\n")+"\n"), "+", "%20")
}
