package steps

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// CycleError is a dependency cycle, named in order.
type CycleError struct{ Cycle []ID }

func (e *CycleError) Error() string {
	parts := make([]string, len(e.Cycle))
	for i, id := range e.Cycle {
		parts[i] = id.String()
	}
	return "dependsOn forms a cycle: " + strings.Join(parts, " → ")
}

// Order sorts ids so that every id comes after the ids it depends on (deps
// maps an id to its dependencies; dependencies outside ids are ignored).
// Among ready ids, priority(id) decides, then the ID. A cycle is a *CycleError.
func Order(ids []ID, deps map[ID][]ID, priority func(ID) int) ([]ID, error) {
	in := make(map[ID]bool, len(ids))
	for _, id := range ids {
		in[id] = true
	}
	indeg := make(map[ID]int, len(ids))
	dependents := make(map[ID][]ID, len(ids))
	for _, id := range ids {
		for _, d := range deps[id] {
			if in[d] && d != id {
				indeg[id]++
				dependents[d] = append(dependents[d], id)
			} else if d == id {
				return nil, &CycleError{Cycle: []ID{id, id}}
			}
		}
	}
	q := &idHeap{prio: priority}
	for _, id := range ids {
		if indeg[id] == 0 {
			q.items = append(q.items, id)
		}
	}
	heap.Init(q)
	out := make([]ID, 0, len(ids))
	for q.Len() > 0 {
		id := heap.Pop(q).(ID)
		out = append(out, id)
		for _, n := range dependents[id] {
			indeg[n]--
			if indeg[n] == 0 {
				heap.Push(q, n)
			}
		}
	}
	if len(out) < len(ids) {
		return nil, &CycleError{Cycle: findCycle(ids, deps, in, indeg)}
	}
	return out, nil
}

// findCycle walks dependencies among the ids left over by Order until an id
// repeats.
func findCycle(ids []ID, deps map[ID][]ID, in map[ID]bool, indeg map[ID]int) []ID {
	var start ID
	for _, id := range ids {
		if indeg[id] > 0 {
			start = id
			break
		}
	}
	seen := map[ID]int{}
	var path []ID
	cur := start
	for {
		if i, ok := seen[cur]; ok {
			cyc := append([]ID{}, path[i:]...)
			// Report in dependency direction: a needs b needs … needs a.
			return append(cyc, cur)
		}
		seen[cur] = len(path)
		path = append(path, cur)
		next := cur
		for _, d := range deps[cur] {
			if in[d] && indeg[d] > 0 {
				next = d
				break
			}
		}
		if next == cur {
			return path
		}
		cur = next
	}
}

type idHeap struct {
	items []ID
	prio  func(ID) int
}

func (h *idHeap) Len() int { return len(h.items) }
func (h *idHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if h.prio != nil {
		if pa, pb := h.prio(a), h.prio(b); pa != pb {
			return pa < pb
		}
	}
	return a.Less(b)
}
func (h *idHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *idHeap) Push(x any)    { h.items = append(h.items, x.(ID)) }
func (h *idHeap) Pop() any {
	old := h.items
	x := old[len(old)-1]
	h.items = old[:len(old)-1]
	return x
}

// CheckDeps reports dependsOn entries that name no declared resource, and
// cycles, as errors naming the resources.
func CheckDeps(rs []Resource) []error {
	if !slices.ContainsFunc(rs, func(r Resource) bool { return len(r.DependsOn) > 0 }) {
		return nil // nothing to check: no graph to build
	}
	declared := make(map[ID]bool, len(rs))
	ids := make([]ID, len(rs))
	deps := make(map[ID][]ID, len(rs))
	for i, r := range rs {
		declared[r.ID] = true
		ids[i] = r.ID
		deps[r.ID] = r.DependsOn
	}
	var errs []error
	for _, r := range rs {
		for _, d := range r.DependsOn {
			if !declared[d] {
				errs = append(errs, fmt.Errorf("%s: dependsOn names %s, which is not declared in resources", r.ID, d))
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if _, err := Order(ids, deps, nil); err != nil {
		errs = append(errs, err)
	}
	return errs
}
