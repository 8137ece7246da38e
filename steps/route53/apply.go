package route53

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"

	"github.com/gitops-runner/gitops-runner/steps"
)

// maxGatherWindows bounds how long a batch gathers changes while they keep
// arriving: at most this many batch windows.
const maxGatherWindows = 20

// State is what Apply records in the inventory for a record.
type State struct {
	ZoneID string `json:"zoneId"`
	// Change is the ID of the Route 53 change that applied the record last.
	Change string `json:"change"`
}

// Apply implements steps.Backend. The executor calls Apply once per change,
// concurrently; Apply hands its Route 53 changes to the zone's batcher, which
// gathers the changes arriving within a short window into as few
// ChangeResourceRecordSets calls as the limits allow, waits for INSYNC and
// gives every caller its own result (an InvalidChangeBatch is pinned to the
// record that caused it; the others still apply).
func (b *Backend) Apply(ctx context.Context, c steps.Change, p steps.Progress) (json.RawMessage, error) {
	if err := b.configured(); err != nil {
		return nil, err
	}
	ops, _ := c.Detail.([]op)
	if len(ops) == 0 {
		if c.Action == steps.NoOp {
			return nil, nil
		}
		return nil, fmt.Errorf("%s %s: the change carries no Route 53 operations (it was not planned by this backend's Diff)", c.Action, c.ID)
	}
	// A replace across zones touches two batchers, one after the other
	// (creates go after the delete, as Diff ordered them).
	var st State
	for start := 0; start < len(ops); {
		end := start + 1
		for end < len(ops) && ops[end].zone == ops[start].zone {
			end++
		}
		zone := ops[start].zone
		id, err := b.zoneID(ctx, zone)
		if err != nil {
			return nil, err
		}
		changes := make([]types.Change, 0, end-start)
		labels := make([]string, 0, end-start)
		for _, o := range ops[start:end] {
			changes = append(changes, o.change(id))
			labels = append(labels, o.label())
		}
		it := newItem(changes, strings.Join(labels, ", "), p)
		r := b.batcher(zone, id).add(ctx, it)
		if r.err != nil {
			return nil, fmt.Errorf("%s %s: %w", ops[start].action, it.label, r.err)
		}
		st = State{ZoneID: id, Change: r.change}
		start = end
	}
	return json.Marshal(st)
}

// change renders an op for the API.
func (o op) change(zoneID string) types.Change {
	if o.del != nil {
		return types.Change{Action: o.action, ResourceRecordSet: &o.del.set}
	}
	return types.Change{Action: o.action, ResourceRecordSet: recordSet(*o.want, zoneID)}
}

// recordSet renders a spec as an API record set.
func recordSet(s Spec, zoneID string) *types.ResourceRecordSet {
	rs := &types.ResourceRecordSet{Name: aws.String(s.Name + "."), Type: types.RRType(s.Type)}
	if s.Alias != nil {
		rs.AliasTarget = &types.AliasTarget{DNSName: aws.String(s.Alias.Name + "."), HostedZoneId: aws.String(zoneID),
			EvaluateTargetHealth: s.Alias.EvaluateTargetHealth}
		return rs
	}
	rs.TTL = s.TTL
	for _, v := range s.Values {
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(wireValue(s.Type, v))})
	}
	return rs
}

// item is one caller's changes waiting in a batcher.
type item struct {
	changes []types.Change
	label   string
	p       steps.Progress
	records int // ResourceRecord elements, UPSERT counted twice
	chars   int // value characters, UPSERT counted twice
	done    chan result
}

type result struct {
	change string
	err    error
}

func newItem(changes []types.Change, label string, p steps.Progress) *item {
	it := &item{changes: changes, label: label, p: p, done: make(chan result, 1)}
	for _, c := range changes {
		n, chars := 1, 0
		if rs := c.ResourceRecordSet; rs != nil {
			n = max(1, len(rs.ResourceRecords))
			for _, r := range rs.ResourceRecords {
				chars += len(aws.ToString(r.Value))
			}
		}
		// docs/api-facts.md §4: "UPSERT counts double" for both limits.
		if c.Action == types.ChangeActionUpsert {
			n, chars = 2*n, 2*chars
		}
		it.records += n
		it.chars += chars
	}
	return it
}

// batcher gathers the changes of one zone. The first caller to find it idle
// leads: it waits until no change has arrived for a window (or the batch is
// full), waits for the zone's previous batch to finish, takes everything
// pending, submits it and delivers the results. Leaders are callers, so no
// goroutine outlives the Apply calls.
type batcher struct {
	b      *Backend
	zone   string
	zoneID string

	mu      sync.Mutex
	pending []*item
	leading bool
	last    time.Time
	records int
	chars   int
	kick    chan struct{} // the pending changes fill a batch
	slot    chan struct{} // held while a batch of the zone is in flight
}

func (b *Backend) batcher(zone, id string) *batcher {
	b.mu.Lock()
	defer b.mu.Unlock()
	bt := b.batchers[zone]
	if bt == nil || bt.zoneID != id {
		bt = &batcher{b: b, zone: zone, zoneID: id, kick: make(chan struct{}, 1), slot: make(chan struct{}, 1)}
		b.batchers[zone] = bt
	}
	return bt
}

func (bt *batcher) full() bool {
	return bt.records >= bt.b.cfg.BatchSize || bt.chars >= MaxBatchChars
}

func (bt *batcher) add(ctx context.Context, it *item) result {
	bt.mu.Lock()
	bt.pending = append(bt.pending, it)
	bt.records += it.records
	bt.chars += it.chars
	bt.last = time.Now()
	lead := !bt.leading
	bt.leading = true
	full := bt.full()
	bt.mu.Unlock()
	if full {
		select {
		case bt.kick <- struct{}{}:
		default:
		}
	}
	if !lead {
		select {
		case r := <-it.done:
			return r
		case <-ctx.Done():
			return result{err: fmt.Errorf("waiting for the change batch of zone %s (the change may still be applied): %w", bt.zone, context.Cause(ctx))}
		}
	}
	bt.lead(ctx)
	return <-it.done
}

// lead gathers, submits and delivers pending changes until none is left.
func (bt *batcher) lead(ctx context.Context) {
	for {
		full, ok := bt.gather(ctx)
		if !ok {
			return
		}
		// One batch of a zone at a time: Route 53 answers PriorRequestNotComplete
		// to a change while the zone's previous one is PENDING (docs/api-facts.md §4).
		// Changes arriving meanwhile join this round.
		select {
		case bt.slot <- struct{}{}:
		case <-ctx.Done():
			bt.abort(ctx)
			return
		}
		bt.mu.Lock()
		batches := bt.split(bt.pending)
		// Gathering stopped because a batch filled up: the last, partial batch
		// waits for more changes instead of going out half empty.
		var held []*item
		if full && len(batches) > 1 {
			held = batches[len(batches)-1]
			batches = batches[:len(batches)-1]
		}
		bt.pending, bt.records, bt.chars = held, 0, 0
		for _, it := range held {
			bt.records += it.records
			bt.chars += it.chars
		}
		bt.leading = len(held) > 0
		if bt.leading {
			bt.last = time.Now()
		}
		bt.mu.Unlock()
		for _, batch := range batches {
			bt.b.submit(ctx, bt.zone, bt.zoneID, batch)
		}
		<-bt.slot
		if len(held) == 0 {
			return
		}
	}
}

// gather waits until no change has arrived for a window, or the pending
// changes fill a batch (full), or the gathering took too long. It reports
// false when ctx ended (everything pending has then failed).
func (bt *batcher) gather(ctx context.Context) (full, ok bool) {
	window := time.Duration(bt.b.cfg.BatchWindow)
	deadline := time.Now().Add(maxGatherWindows * window)
	for {
		bt.mu.Lock()
		wait := window - time.Since(bt.last)
		full = bt.full()
		bt.mu.Unlock()
		if full || wait <= 0 || time.Now().After(deadline) {
			return full, true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-bt.kick:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			bt.abort(ctx)
			return false, false
		}
	}
}

// abort fails everything pending when the leader's context ends; the error
// is transient, so callers whose own context is alive retry.
func (bt *batcher) abort(ctx context.Context) {
	bt.mu.Lock()
	items := bt.pending
	bt.pending, bt.records, bt.chars, bt.leading = nil, 0, 0, false
	bt.mu.Unlock()
	err := steps.Transient(fmt.Errorf("change batch of zone %s not submitted: %w", bt.zone, context.Cause(ctx)))
	for _, it := range items {
		it.done <- result{err: err}
	}
}

// split cuts items into batches within the limits, in arrival order.
func (bt *batcher) split(items []*item) [][]*item {
	var out [][]*item
	var cur []*item
	records, chars := 0, 0
	for _, it := range items {
		if len(cur) > 0 && (records+it.records > bt.b.cfg.BatchSize || chars+it.chars > MaxBatchChars) {
			out = append(out, cur)
			cur, records, chars = nil, 0, 0
		}
		cur = append(cur, it)
		records += it.records
		chars += it.chars
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// submit sends one batch and delivers each item's result. A batch Route 53
// refuses as invalid is split in halves until the culprits stand alone, so
// the innocent changes still apply.
func (b *Backend) submit(ctx context.Context, zone, zoneID string, items []*item) {
	var changes []types.Change
	records := 0
	for _, it := range items {
		changes = append(changes, it.changes...)
		records += it.records
	}
	// Route 53 applies a batch's changes in order: alias records go after
	// the record sets they point at, and are deleted before them.
	slices.SortStableFunc(changes, func(a, b types.Change) int { return changeClass(a) - changeClass(b) })
	out, err := b.client.ChangeResourceRecordSets(ctx, &r53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch:  &types.ChangeBatch{Changes: changes, Comment: aws.String("gitops-runner")},
	})
	if err != nil {
		if invalidBatch(err) && len(items) > 1 {
			for _, it := range items {
				it.p.Printf("Route 53 refused a batch of %d changes in zone %s; retrying in parts to find the invalid one", len(changes), zone)
			}
			half := len(items) / 2
			b.submit(ctx, zone, zoneID, items[:half])
			b.submit(ctx, zone, zoneID, items[half:])
			return
		}
		err = b.wrapAPI("ChangeResourceRecordSets "+zone, err)
		for _, it := range items {
			it.done <- result{err: err}
		}
		return
	}
	id := bareID(aws.ToString(out.ChangeInfo.Id))
	for _, it := range items {
		it.p.Printf("change %s submitted (%d changes, %d records) in zone %s, waiting for INSYNC", id, len(changes), records, zone)
	}
	start := time.Now()
	err = b.waitInsync(ctx, id)
	for _, it := range items {
		if err == nil {
			it.p.Printf("change %s INSYNC after %s", id, time.Since(start).Round(time.Millisecond))
		}
		it.done <- result{change: id, err: err}
	}
}

// changeClass orders a batch: 0 = deletes of aliases, 1 = other changes,
// 2 = creates and upserts of aliases.
func changeClass(c types.Change) int {
	if c.ResourceRecordSet == nil || c.ResourceRecordSet.AliasTarget == nil {
		return 1
	}
	if c.Action == types.ChangeActionDelete {
		return 0
	}
	return 2
}

// invalidBatch reports whether Route 53 refused a batch for its content.
func invalidBatch(err error) bool {
	var icb *types.InvalidChangeBatch
	if errors.As(err, &icb) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidInput"
}

// waitInsync polls GetChange until the change is INSYNC.
func (b *Backend) waitInsync(ctx context.Context, id string) error {
	timeout := time.Duration(b.cfg.ChangeTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	interval := time.Duration(b.cfg.PollInterval)
	for {
		out, err := b.client.GetChange(ctx, &r53.GetChangeInput{Id: aws.String(id)})
		switch {
		case err == nil && out.ChangeInfo.Status == types.ChangeStatusInsync:
			return nil
		case err != nil && !isRetryable(err) && ctx.Err() == nil:
			return b.wrapAPI("GetChange "+id, err)
		}
		if err := steps.Sleep(ctx, interval); err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("change %s was accepted but is not INSYNC after %s (changeTimeout); it will take effect, and the next run checks it", id, timeout)
			}
			return fmt.Errorf("waiting for change %s to be INSYNC: %w", id, err)
		}
	}
}
