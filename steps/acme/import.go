package acme

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gitops-runner/gitops-runner/steps"
)

var _ steps.Importer = (*Backend)(nil)

// Import implements steps.Importer: the certificates certbot keeps in a
// configuration directory (where: one directory, e.g. /etc/letsencrypt;
// empty: the backend's certRoot) as acme.certificate resources built with
// acme.libsonnet. It reads certbot's layout — live/<name>/{cert,chain,
// fullchain,privkey}.pem (symlinks into archive/<name>/) and
// renewal/<name>.conf — and makes no network call.
//
// Each certificate gets its lineage name, its names (subject first, then
// the other SANs, from the certificate itself), its key type (from the
// private key, which is read for its type only and never written), its
// deploy directory when that is not the default live/<name>, its file
// modes when they are not 0644/0600, and renewBefore when the renewal
// conf sets renew_before_expiry. The directory must be inside the
// backend's certRoot, where the runner deploys. Each certificate is
// observed and diffed as a push would before it is written: one that
// would plan a change (expired or due for renewal, unreadable key, names
// outside the managed zones) is left alone and listed with the reason.
//
// certbot's renewal conf stays: the hooks, authenticator and account it
// names are listed in IMPORT.md, with what to do so certbot and the runner
// do not both renew (certbot's renewal config format: certbot docs,
// "Modifying the Renewal Configuration File").
func (b *Backend) Import(ctx context.Context, where []string) (*steps.Imported, error) {
	if b.unconfigured {
		return nil, ErrNotConfigured
	}
	root := b.cfg.certRoot
	switch len(where) {
	case 0:
	case 1:
		abs, err := filepath.Abs(where[0])
		if err != nil {
			return nil, err
		}
		root = filepath.Clean(abs)
	default:
		return nil, fmt.Errorf("acme import reads one certbot directory, got %d (%s)", len(where), strings.Join(where, ", "))
	}
	live := filepath.Join(root, "live")
	ents, err := os.ReadDir(live)
	if err != nil {
		return nil, fmt.Errorf("read certbot's live directory: %w (--certs names certbot's configuration directory, e.g. /etc/letsencrypt)", err)
	}
	if _, err := deployDir(b.cfg.certRoot, live, "x"); err != nil {
		return nil, fmt.Errorf("certificates in %s: %w: the runner deploys inside its certRoot only; set backends.acme.certRoot to %s", root, err, root)
	}
	im := &steps.Imported{
		File:   "certs.libsonnet",
		Header: "// TLS certificates from certbot, imported by `runner import`.\nlocal acme = import 'acme.libsonnet';\n",
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue // certbot's README
		}
		name := e.Name()
		where := "certbot certificate " + name + " (" + filepath.Join(live, name) + ")"
		f, notes, err := b.importLineage(ctx, root, name)
		if err != nil {
			im.Unmanaged = append(im.Unmanaged, steps.Unmanaged{Where: where, Why: err.Error(),
				Then: "left alone: not in the repo, so the runner neither renews nor deletes it (certbot keeps renewing it)"})
			continue
		}
		im.Resources = append(im.Resources, f)
		for _, n := range notes {
			n.ID, n.Where = f.ID, where+": "+n.Where
			im.Unmanaged = append(im.Unmanaged, n)
		}
	}
	return im, nil
}

// importLineage reads one certbot lineage as a resource, and what of its
// renewal conf the runner does not take over.
func (b *Backend) importLineage(ctx context.Context, root, name string) (steps.Found, []steps.Unmanaged, error) {
	dir := filepath.Join(root, "live", name)
	d, err := readDeployed(dir)
	switch {
	case errors.Is(err, os.ErrPermission):
		return steps.Found{}, nil, fmt.Errorf("the runner's user cannot read it (%w): give it the lineage's files in live/ and archive/ (chown), which it will replace on renewal", err)
	case err != nil:
		return steps.Found{}, nil, err
	case d == nil:
		return steps.Found{}, nil, errors.New("no cert.pem: not a certificate lineage")
	}
	if d.keyType == "" {
		return steps.Found{}, nil, errors.New("its privkey.pem is missing, unreadable or of a key type the runner does not issue (ec256, ec384, rsa2048, rsa4096)")
	}
	conf, err := readRenewalConf(filepath.Join(root, "renewal", name+".conf"))
	if err != nil {
		return steps.Found{}, nil, err
	}
	var fields []string // Jsonnet of the opts, in the lib's order
	spec := map[string]any{"domains": subjectFirst(d.leaf.Subject.CommonName, certNames(d.leaf))}
	put := func(key string, v any) {
		spec[key] = v
		fields = append(fields, key+": "+steps.JsonnetValue(v))
	}
	if d.keyType != "ec256" {
		put("keyType", d.keyType)
	}
	if rb := conf.top["renew_before_expiry"]; rb != "" {
		dur, ok := certbotInterval(rb)
		if !ok {
			return steps.Found{}, nil, fmt.Errorf("renewal/%s.conf: renew_before_expiry %q is not an interval the runner can take (days, hours, weeks)", name, rb)
		}
		put("renewBefore", dur)
	}
	deploy := map[string]any{}
	var deployFields []string
	if p, _ := deployDir(b.cfg.certRoot, "", name); p != dir {
		rel, err := filepath.Rel(b.cfg.certRoot, dir)
		if err != nil {
			return steps.Found{}, nil, err
		}
		deploy["dir"] = rel
		deployFields = append(deployFields, "dir: "+steps.JsonnetValue(rel))
	}
	if m, ok := d.files[certFile]; ok && m.Mode != 0o644 {
		deploy["mode"] = fmt.Sprintf("%04o", m.Mode)
		deployFields = append(deployFields, "mode: "+steps.JsonnetValue(deploy["mode"]))
	}
	if m, ok := d.files[keyFile]; ok && m.Mode != 0o600 {
		deploy["keyMode"] = fmt.Sprintf("%04o", m.Mode)
		deployFields = append(deployFields, "keyMode: "+steps.JsonnetValue(deploy["keyMode"]))
	}
	if len(deploy) > 0 {
		spec["deploy"] = deploy
		fields = append(fields, "deploy: { "+strings.Join(deployFields, ", ")+" }")
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return steps.Found{}, nil, err
	}
	s, err := b.Decode(Kind, raw)
	if err != nil {
		return steps.Found{}, nil, fmt.Errorf("the runner cannot declare it: %w", err)
	}
	id := steps.ID{Kind: Kind, Name: name}
	t := steps.Target{ID: id, Want: s, Adopt: true}
	live, err := b.Observe(ctx, []steps.Target{t})
	if err != nil {
		return steps.Found{}, nil, err
	}
	c, err := b.Diff(t, live[id])
	if err != nil {
		return steps.Found{}, nil, fmt.Errorf("the runner cannot declare it: %w", err)
	}
	if c.Action != steps.NoOp {
		why := strings.Join(c.Notes, "; ")
		for _, f := range c.Fields {
			why += fmt.Sprintf("; %s %v → %v", f.Path, f.Before, f.After)
		}
		return steps.Found{}, nil, fmt.Errorf("adopting it would plan a change (%s: %s): renew it with certbot first, or let the runner obtain it anew",
			c.Action, strings.TrimPrefix(why, "; "))
	}
	fields = append(fields, "adopt: true")
	domains := spec["domains"].([]string)
	f := steps.Found{
		ID:      id,
		Spec:    s,
		Jsonnet: fmt.Sprintf("acme.certificate(%s, %s, { %s })", steps.JsonnetValue(name), steps.JsonnetValue(domains), strings.Join(fields, ", ")),
	}
	return f, conf.notes(name, b.cfg.directory), nil
}

// subjectFirst orders a certificate's names as certbot's -d list: the
// subject's name first, then the other names (sorted).
func subjectFirst(cn string, names []string) []string {
	cn = strings.ToLower(cn)
	if !slices.Contains(names, cn) {
		return names
	}
	out := []string{cn}
	for _, n := range names {
		if n != cn {
			out = append(out, n)
		}
	}
	return out
}

// certbotInterval turns certbot's renew_before_expiry ("30 days", "2
// weeks", "36 hours"; certbot docs: "renew_before_expiry = 30 days") into
// the spec's duration ("30d", "336h", "36h").
func certbotInterval(s string) (string, bool) {
	var n int
	var unit string
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "%d %s", &n, &unit); err != nil || n <= 0 {
		return "", false
	}
	switch strings.TrimSuffix(strings.ToLower(unit), "s") {
	case "day":
		return fmt.Sprintf("%dd", n), true
	case "week":
		return fmt.Sprintf("%dd", 7*n), true
	case "hour":
		return fmt.Sprintf("%dh", n), true
	}
	return "", false
}

// renewalConf is a certbot renewal configuration (configobj syntax: key =
// value lines, a [renewalparams] section, # comments).
type renewalConf struct {
	found  bool
	top    map[string]string
	params map[string]string
}

func readRenewalConf(path string) (renewalConf, error) {
	c := renewalConf{top: map[string]string{}, params: map[string]string{}}
	f, err := os.Open(path) //nolint:gosec // the certbot directory the operator named
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	defer func() { _ = f.Close() }()
	c.found = true
	sec := c.top
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			sec = map[string]string{}
			if strings.Trim(line, "[]") == "renewalparams" {
				sec = c.params
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if ok {
				sec[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return c, sc.Err()
}

// notes lists what of certbot's renewal conf the runner does not take
// over: the renewal itself (certbot would renew too), hooks, another
// authenticator or CA.
func (c renewalConf) notes(name, directory string) []steps.Unmanaged {
	var out []steps.Unmanaged
	conf := "renewal/" + name + ".conf"
	if !c.found {
		return nil // certbot does not renew it: nothing to hand over
	}
	out = append(out, steps.Unmanaged{Where: conf,
		Why:  "certbot's timer (certbot renew) renews every lineage with a renewal conf, and would replace the files the runner deploys",
		Then: "the runner renews it from now on: move " + conf + " out of renewal/ (keep it as a record) so certbot stops renewing it"})
	for _, k := range []string{"pre_hook", "post_hook", "renew_hook", "deploy_hook"} {
		// A hook is a shell command line, which may hold a token (curl -H
		// "Authorization: Bearer …"): where it is, never what it says.
		if v := c.params[k]; v != "" {
			out = append(out, steps.Unmanaged{Where: conf + " " + k, Why: "certbot runs the command set there (not shown here: a command line may hold a credential) around a renewal; the runner does not run certbot's hooks",
				Then: "not carried over: to reload a service after the runner deploys, set deploy.reload (a program in backends.acme.reloadAllowed)"})
		}
	}
	if a := c.params["authenticator"]; a != "" && a != "dns-route53" {
		out = append(out, steps.Unmanaged{Where: conf + " authenticator " + a,
			Why:  "certbot validated it with " + a + "; the runner solves DNS-01 through Route 53 only",
			Then: "renewed with DNS-01 from now on: its names must be in a Route 53 zone the runner manages"})
	}
	if s := c.params["server"]; s != "" && s != directory {
		s, d := shownURL(s), shownURL(directory)
		out = append(out, steps.Unmanaged{Where: conf + " server " + s, Why: "certbot got it from " + s + "; the runner is configured for " + d,
			Then: "renewed from the runner's CA from now on"})
	}
	return out
}

// shownURL is a URL as IMPORT.md may show it: scheme, host and path, with
// no userinfo (https://user:password@…), query or fragment, which can hold
// a credential; text that is not such a URL is not shown.
func shownURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(not a URL, not shown)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}
