package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// task is one PVE worker task (pve-common RESTEnvironment fork_worker).
type task struct {
	upid      string
	node      string
	pid       int64
	pstart    int64
	starttime int64
	typ       string
	id        string
	user      string

	running    bool
	exitstatus string
	endtime    int64
	lines      []string
}

// taskEffect runs when the task's duration is over, with s.mu held. It
// returns warnings to count (exitstatus "WARNINGS: N") or an error, whose
// text becomes the exitstatus (docs/api-facts.md §1, UPID.pm).
type taskEffect func(t *task) (warnings int, err error)

// lockSpec says which guest locks a task takes before its effect.
type lockSpec struct {
	vmid   int
	typ    string
	shared bool
	// timeout overrides Options.LockTimeout when > 0.
	timeout time.Duration
}

// taskUser is the user of tasks not started by an API call (seeding).
const taskUser = "root@pam"

// startTask creates a running task and returns its UPID. The worker waits
// for the locks, then for Options.TaskDuration, then applies effect. The
// UPID format is pve-common src/PVE/UPID.pm:
// UPID:$node:$pid(%08X):$pstart(%08X):$starttime(%08X):$type:$id:$user:
// where user is who asked (call.user; a token writes its token ID). Call
// with s.mu held.
func (s *Server) startTask(nodeName, typ, id, user string, locks []lockSpec, effect taskEffect) string {
	if user == "" {
		user = taskUser
	}
	s.taskSeq++
	now := s.now()
	t := &task{
		node:      nodeName,
		pid:       0x1000 + s.taskSeq,
		pstart:    now.Unix()%100000000 + s.taskSeq,
		starttime: now.Unix(),
		typ:       typ,
		id:        id,
		user:      user,
		running:   true,
	}
	t.upid = fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%s:%s:%s:", t.node, t.pid, t.pstart, t.starttime&0xffffffff, t.typ, t.id, t.user)
	s.tasks[t.upid] = t
	s.taskOrder = append(s.taskOrder, t.upid)
	s.pruneTasks()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runTask(t, locks, effect)
	}()
	return t.upid
}

// maxTasks bounds the task history a long-running lab keeps (PVE keeps
// its task index bounded too); the oldest finished tasks go first.
const maxTasks = 10000

func (s *Server) pruneTasks() {
	for len(s.taskOrder) > maxTasks {
		dropped := false
		for i, upid := range s.taskOrder {
			if t := s.tasks[upid]; t == nil || !t.running {
				delete(s.tasks, upid)
				s.taskOrder = append(s.taskOrder[:i], s.taskOrder[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			return
		}
	}
}

func (s *Server) runTask(t *task, locks []lockSpec, effect taskEffect) {
	var held []lockSpec
	defer func() {
		for i := len(held) - 1; i >= 0; i-- {
			s.guestLock(held[i].vmid).release(held[i].shared)
		}
	}()
	finish := func(warnings int, err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		t.running = false
		t.endtime = s.now().Unix()
		switch {
		case err != nil:
			msg := firstLine(err.Error())
			t.lines = append(t.lines, "TASK ERROR: "+msg)
			t.exitstatus = msg
		case warnings > 0:
			t.exitstatus = "WARNINGS: " + strconv.Itoa(warnings)
			t.lines = append(t.lines, "TASK "+t.exitstatus)
		default:
			t.exitstatus = "OK"
			t.lines = append(t.lines, "TASK OK")
		}
	}
	for _, l := range locks {
		timeout := s.opts.LockTimeout
		if l.timeout > 0 {
			timeout = l.timeout
		}
		if !s.guestLock(l.vmid).acquire(s.ctx, l.shared, timeout) {
			s.mu.Lock()
			t.lines = append(t.lines, "trying to acquire lock...")
			s.mu.Unlock()
			finish(0, fmt.Errorf("%s", lockTimeoutMessage(l.typ, l.vmid)))
			return
		}
		held = append(held, l)
	}
	if d := s.opts.TaskDuration; d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-s.ctx.Done():
			timer.Stop()
			finish(0, fmt.Errorf("interrupted by signal"))
			return
		}
	}
	s.mu.Lock()
	warnings, err := effect(t)
	s.mu.Unlock()
	finish(warnings, err)
}

// logf appends a line to the task log; call with s.mu held.
func (t *task) logf(format string, a ...any) {
	t.lines = append(t.lines, strings.Split(strings.TrimRight(fmt.Sprintf(format, a...), "\n"), "\n")...)
}

// ---- task endpoints -----------------------------------------------------------

func (s *Server) findTask(c *call) (*task, *apiError) {
	t := s.tasks[c.vars["upid"]]
	if t == nil || t.node != c.vars["node"] {
		// pve-common UPID.pm decode_upid / the task log lookup.
		if !strings.HasPrefix(c.vars["upid"], "UPID:") {
			return nil, paramErr(map[string]string{"upid": "unable to parse worker upid '" + c.vars["upid"] + "'"})
		}
		return nil, fail("no such task")
	}
	return t, nil
}

var hTaskStatus = withFound((*Server).findTask, func(s *Server, c *call, t *task) (any, *apiError) {
	out := t.decoded()
	out["status"] = "running"
	if !t.running {
		out["status"] = "stopped"
		out["exitstatus"] = t.exitstatus
	}
	return out, nil
})

// decoded is the task as pve-manager API2/Tasks.pm answers it: the fields
// of its UPID (PVE::Tools::upid_decode) with a token's user split into
// user and tokenid ($convert_token_task: "runner@pve!gitops" is user
// "runner@pve", tokenid "gitops").
func (t *task) decoded() map[string]any {
	out := map[string]any{
		"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime,
		"type": t.typ, "id": t.id, "user": t.user,
	}
	if user, tokenid, ok := strings.Cut(t.user, "!"); ok {
		out["user"], out["tokenid"] = user, tokenid
	}
	return out
}

// hTaskList is pve-manager API2/Tasks.pm node_tasks: the node's tasks,
// newest first. source "archive" (the default) lists finished tasks with
// their endtime and status (the exit status), "active" running ones (status
// "RUNNING"), "all" both, running first; then the filters typefilter, vmid,
// userfilter (a case-insensitive substring of the user), since/until (start
// time), errors or statusfilter (ok, warning, error, unknown), and start and
// limit (default 50) over what passes. The simulator has no permissions:
// every login sees every task, as one with Sys.Audit on the node does.
func hTaskList(s *Server, c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	source := c.params["source"]
	if source == "" {
		source = "archive"
	}
	start, limit := atoiDefault(c.params["start"], 0), atoiDefault(c.params["limit"], 50)
	status := map[string]bool{"ok": true, "warning": true, "error": true, "unknown": true}
	switch {
	case c.bool("errors"):
		status["ok"] = false
	case c.params["statusfilter"] != "":
		status = map[string]bool{}
		for _, f := range strings.FieldsFunc(c.params["statusfilter"], func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
			status[strings.ToLower(f)] = true
		}
	}
	var running, finished []*task
	for i := len(s.taskOrder) - 1; i >= 0; i-- {
		t := s.tasks[s.taskOrder[i]]
		if t == nil || t.node != c.vars["node"] {
			continue
		}
		if t.running {
			running = append(running, t)
		} else {
			finished = append(finished, t)
		}
	}
	var listed []*task
	if source == "active" || source == "all" {
		listed = append(listed, running...)
	}
	if source != "active" {
		listed = append(listed, finished...)
	}
	out := []map[string]any{}
	count := 0
	for _, t := range listed {
		e := t.decoded()
		switch {
		case c.params["userfilter"] != "" && !strings.Contains(strings.ToLower(t.user), strings.ToLower(c.params["userfilter"])):
			continue
		case c.params["typefilter"] != "" && t.typ != c.params["typefilter"]:
			continue
		case c.params["vmid"] != "" && t.id != c.params["vmid"]:
			continue
		case c.params["since"] != "" && t.starttime < int64(atoiDefault(c.params["since"], 0)):
			continue
		case c.params["until"] != "" && t.starttime > int64(atoiDefault(c.params["until"], 0)):
			continue
		}
		if t.running {
			e["status"] = "RUNNING"
		} else {
			e["status"], e["endtime"] = t.exitstatus, t.endtime
		}
		if !status[statusType(e["status"].(string))] {
			continue
		}
		count++
		if count <= start || len(out) >= limit {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// statusType is pve-common PVE::Tools::upid_normalize_status_type: "OK" is
// ok, "WARNINGS: n" warning, any other text error, none unknown.
func statusType(status string) string {
	switch {
	case status == "" || status == "RUNNING":
		return "unknown"
	case status == "OK":
		return "ok"
	case strings.HasPrefix(status, "WARNINGS: "):
		return "warning"
	}
	return "error"
}

var hTaskLog = withFound((*Server).findTask, func(s *Server, c *call, t *task) (any, *apiError) {
	start := c.int("start")
	limit := 50
	if c.has("limit") {
		limit = c.int("limit")
	}
	lines := t.lines
	if len(lines) == 0 && t.running {
		lines = []string{"no content"}
	}
	out := []map[string]any{}
	for i := start; i < len(lines) && len(out) < limit; i++ {
		out = append(out, map[string]any{"n": i + 1, "t": lines[i]})
	}
	return out, nil
})

var hTaskStop = withFound((*Server).findTask, func(s *Server, c *call, _ *task) (any, *apiError) {
	// Stopping is accepted; the simulated worker finishes on its own.
	return nil, nil
})

// TaskCount returns how many tasks were started and how many still run.
func (s *Server) TaskCount() (total, running int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		total++
		if t.running {
			running++
		}
	}
	return total, running
}
