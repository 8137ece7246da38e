package freeipa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/gitops-runner/gitops-runner/internal/atomicfile"

	"github.com/gitops-runner/gitops-runner/steps"
)

// State is what the inventory keeps of a FreeIPA object the runner applied.
type State struct {
	// OTPFile is where a host's one-time enrolment password was written.
	OTPFile string `json:"otpFile,omitempty"`
}

// Apply implements steps.Backend.
func (b *Backend) Apply(ctx context.Context, c steps.Change, p steps.Progress) (json.RawMessage, error) {
	if err := b.ready(false); err != nil {
		return nil, err
	}
	kd := kindDefs[c.ID.Kind]
	if kd == nil {
		return nil, fmt.Errorf("%s: not a FreeIPA kind", c.ID)
	}
	switch c.Action {
	case steps.NoOp:
		return nil, nil
	case steps.Create:
		return b.create(ctx, kd, c, p)
	case steps.Update:
		live, _ := c.Have.(*Live)
		if live == nil {
			return nil, fmt.Errorf("%s: update without live state", c.ID)
		}
		return nil, b.update(ctx, kd, kd.key(c.Target.Want), live.Attrs, kd.want(c.Target.Want))
	case steps.Delete:
		return nil, b.delete(ctx, kd, c, p)
	}
	return nil, fmt.Errorf("%s: action %s is not supported by the freeipa backend", c.ID, c.Action)
}

func isCode(err error, c Code) bool { return errors.Is(err, c) }

// modOpts are the *_mod (or *_add) options for fields whose value differs
// from before (before nil: every non-empty field).
func modOpts(kd *kindDef, before, want map[string]any) map[string]any {
	opts := map[string]any{}
	for _, f := range kd.attrs {
		v, ok := want[f.field]
		if !ok {
			continue
		}
		if before == nil && isZero(v) {
			continue
		}
		if before != nil && reflect.DeepEqual(before[f.field], v) {
			continue
		}
		if f.kind == category {
			// hostcategory=all, or unset with an empty value (sudorule_mod).
			v = categoryValue(v == true)
		}
		opts[f.ldap] = v
	}
	return opts
}

// categoryValue is the value of a category attribute (hostcategory, ...):
// "all", or "" to unset it.
func categoryValue(all bool) string {
	if all {
		return "all"
	}
	return ""
}

func isZero(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case bool:
		return !x
	case []string:
		return len(x) == 0
	}
	return v == nil
}

// memberDelta is what to add and remove to get from have to want.
func memberDelta(have, want []string) (add, remove []string) {
	for _, w := range want {
		if !slices.Contains(have, w) {
			add = append(add, w)
		}
	}
	for _, h := range have {
		if !slices.Contains(want, h) {
			remove = append(remove, h)
		}
	}
	return add, remove
}

// update converges an existing object: member removals first (a sudo
// rule's category can only become "all" without members), then one *_mod,
// then member additions.
func (b *Backend) update(ctx context.Context, kd *kindDef, key string, before, want map[string]any) error {
	type delta struct {
		m           memberField
		add, remove []string
	}
	var ds []delta
	for _, m := range kd.members {
		w, ok := want[m.field].([]string)
		if !ok {
			continue
		}
		h, _ := before[m.field].([]string)
		add, remove := memberDelta(h, w)
		ds = append(ds, delta{m, add, remove})
	}
	for _, d := range ds {
		if len(d.remove) > 0 {
			if err := d.m.apply(ctx, b, key, nil, d.remove); err != nil {
				return fmt.Errorf("remove %s: %w", d.m.field, err)
			}
		}
	}
	if opts := modOpts(kd, before, want); len(opts) > 0 {
		_, err := b.call(ctx, kd.obj+"_mod", []any{key}, opts)
		// docs/api-facts.md §3: EmptyModlist means nothing to do.
		if err != nil && !isCode(err, EmptyModlist) {
			return err
		}
	}
	for _, d := range ds {
		if len(d.add) > 0 {
			if err := d.m.apply(ctx, b, key, d.add, nil); err != nil {
				return fmt.Errorf("add %s: %w", d.m.field, err)
			}
		}
	}
	if kd.after != nil {
		return kd.after(ctx, b, key, before, want)
	}
	return nil
}

func (b *Backend) create(ctx context.Context, kd *kindDef, c steps.Change, p steps.Progress) (json.RawMessage, error) {
	spec := c.Target.Want
	key := kd.key(spec)
	want := kd.want(spec)
	opts := modOpts(kd, nil, want)
	maps.Copy(opts, kd.addOpts(spec))
	random, _ := opts["random"].(bool)
	if random && b.cfg.SecretDir == "" {
		return nil, errors.New("backends.freeipa.secretDir is not set: it is where the host's one-time enrolment password goes (or set oneTimePassword: false on the host)")
	}
	res, err := b.call(ctx, kd.obj+"_add", []any{key}, opts)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Code == int(DuplicateEntry) && ae.Resent:
		// Our first *_add was carried out but its answer was lost: the
		// object is ours. A host's one-time password is in that lost
		// answer, so issue a new one (allowed: it is not enrolled yet).
		p.Printf("%s: the answer to %s_add was lost and the retry found the object: continuing with it", key, kd.obj)
		res = nil
		if random {
			res, err = b.call(ctx, "host_mod", []any{key}, map[string]any{"random": true})
			if err != nil {
				return nil, fmt.Errorf("reissue the one-time password after a lost answer: %w", err)
			}
		}
	case isCode(err, DuplicateEntry):
		return nil, fmt.Errorf("%w (it appeared after the runner looked; the next run adopts it only with adopt: true)", err)
	case err != nil:
		return nil, err
	}
	var st State
	if random {
		var out struct {
			Result struct {
				RandomPassword string `json:"randompassword"`
			} `json:"result"`
		}
		if err := json.Unmarshal(res, &out); err != nil || out.Result.RandomPassword == "" {
			return nil, fmt.Errorf("host_add %s: the answer has no randompassword", key)
		}
		path := filepath.Join(b.cfg.SecretDir, key+".otp")
		if err := writeSecret(path, out.Result.RandomPassword+"\n"); err != nil {
			return nil, fmt.Errorf("host %s was created, but its one-time password could not be saved (reissue it with ipa host-mod --random): %w", key, err)
		}
		st.OTPFile = path
		p.Printf("%s: one-time enrolment password written to %s (use ipa-client-install --password \"$(cat %s)\")", key, path, path)
	}
	// Memberships and the rest: as an update from an empty object.
	empty := map[string]any{}
	for _, m := range kd.members {
		empty[m.field] = []string{}
	}
	for k, v := range want {
		if _, isMember := empty[k]; !isMember {
			empty[k] = v // already set by *_add
		}
	}
	if kd.kind == KindSudoRule {
		empty["enabled"] = true // a new rule is enabled; after() disables it if wanted
	}
	if err := b.update(ctx, kd, key, empty, want); err != nil {
		return stateJSON(st), err
	}
	return stateJSON(st), nil
}

func stateJSON(st State) json.RawMessage {
	if st == (State{}) {
		return nil
	}
	b, _ := json.Marshal(st)
	return b
}

func (b *Backend) delete(ctx context.Context, kd *kindDef, c steps.Change, p steps.Progress) error {
	live, _ := c.Have.(*Live)
	if live == nil {
		return nil
	}
	opts := map[string]any{}
	if kd.kind == KindHost {
		last, _ := c.Target.Last.(HostSpec)
		// Defence in depth: the policy enrolled-hosts denies this too, but
		// ask the server now, as host_show is the authority on has_keytab.
		res, err := b.call(ctx, "host_show", []any{live.Key}, nil)
		if err != nil {
			if isCode(err, NotFound) {
				return nil
			}
			return err
		}
		var out struct {
			Result entry `json:"result"`
		}
		if err := json.Unmarshal(res, &out); err != nil {
			return fmt.Errorf("host_show %s: decode answer: %w", live.Key, err)
		}
		if kt, _ := out.Result.boolean("has_keytab"); kt && !last.DeleteEnrolled {
			return fmt.Errorf("refusing to delete host %s: it is enrolled (has a keytab); push deleteEnrolled: true for it first", live.Key)
		}
		if last.IPAddress != "" {
			opts["updatedns"] = true
		}
	}
	_, err := b.call(ctx, kd.obj+"_del", []any{live.Key}, opts)
	if err != nil && !isCode(err, NotFound) {
		return err
	}
	if kd.kind == KindHost {
		var st State
		if len(c.Target.State) > 0 && json.Unmarshal(c.Target.State, &st) == nil && st.OTPFile != "" {
			if err := os.Remove(st.OTPFile); err == nil {
				p.Printf("%s: removed %s", live.Key, st.OTPFile)
			}
		}
	}
	return nil
}

// writeSecret writes a file readable by its owner only, atomically.
func writeSecret(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(content), 0o600)
}

// members runs member commands (cmdAdd/cmdRemove with option opt) and
// turns "failed" members into an error naming them.
func memberCmds(cmdAdd, cmdRemove, opt string) func(ctx context.Context, b *Backend, key string, add, remove []string) error {
	return func(ctx context.Context, b *Backend, key string, add, remove []string) error {
		if len(remove) > 0 {
			if err := b.members(ctx, cmdRemove, key, opt, remove); err != nil {
				return err
			}
		}
		if len(add) > 0 {
			return b.members(ctx, cmdAdd, key, opt, add)
		}
		return nil
	}
}

// memberAnswer is the output of *_add_member-like commands.
type memberAnswer struct {
	Completed int                       `json:"completed"`
	Failed    map[string]map[string]any `json:"failed"`
}

// MemberError lists members a member command could not add or remove.
type MemberError struct {
	Command, Object string
	// Failed maps "kind name" to FreeIPA's reason.
	Failed []string
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("%s %s: %d member(s) failed: %s", e.Command, e.Object, len(e.Failed), strings.Join(e.Failed, "; "))
}

// benign member failures: the state is already what we want.
var benignMemberReasons = map[string]bool{
	"This entry is already a member": true,
	"This entry is not a member":     true,
}

func (b *Backend) members(ctx context.Context, cmd, key, opt string, names []string) error {
	res, err := b.call(ctx, cmd, []any{key}, map[string]any{opt: names})
	if err != nil {
		if isCode(err, NotFound) {
			// Declared in the same push but not created yet: ordering.
			return fmt.Errorf("%w (if it is declared in this push, make this resource depend on it: the lib adds dependsOn when given the resource instead of its name)", err)
		}
		return err
	}
	var a memberAnswer
	if err := json.Unmarshal(res, &a); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", cmd, key, err)
	}
	// docs/api-facts.md §3: failed members are not errors; failed is
	// {attr: {kind: [[name, reason], ...]}}.
	var failed []string
	for _, byKind := range a.Failed {
		for kind, l := range byKind {
			items, _ := l.([]any)
			for _, it := range items {
				name, reason := fmt.Sprint(it), ""
				if pair, ok := it.([]any); ok && len(pair) == 2 {
					name, reason = fmt.Sprint(pair[0]), fmt.Sprint(pair[1])
				}
				if benignMemberReasons[reason] {
					continue
				}
				if reason == "" {
					failed = append(failed, fmt.Sprintf("%s %s", kind, name))
				} else {
					failed = append(failed, fmt.Sprintf("%s %s (%s)", kind, name, reason))
				}
			}
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		return &MemberError{Command: cmd, Object: key, Failed: failed}
	}
	return nil
}
