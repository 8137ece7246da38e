package monitor

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Status is a Nagios plugin return code (nagios-plugins.org/doc/guidelines.html,
// "Plugin Return Codes").
type Status int

// The plugin return codes, in increasing severity (Unknown aside).
const (
	OK       Status = 0
	Warning  Status = 1
	Critical Status = 2
	Unknown  Status = 3
)

func (s Status) String() string {
	return [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}[s]
}

var rank = map[Status]int{OK: 0, Unknown: 1, Warning: 2, Critical: 3}

// worse is the more severe of two states (Critical > Warning > Unknown > OK,
// as Nagios ranks a host's service problems).
func worse(a, b Status) Status {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Thresholds say when a state is a warning or critical. A zero threshold is
// off.
type Thresholds struct {
	// DriftWarning, DriftCritical: drifted resources (count) at which the
	// check warns / is critical.
	DriftWarning, DriftCritical int
	// CertWarning, CertCritical: days until the soonest certificate expiry
	// below which the check warns / is critical.
	CertWarning, CertCritical float64
	// QueueWarning, QueueCritical: age of the oldest queued job.
	QueueWarning, QueueCritical time.Duration
}

// DefaultThresholds are the plugin's defaults: any drift warns; a
// certificate warns 21 days before it expires (renewal starts at 30 days:
// Let's Encrypt's 90-day certificates are renewed with a third of their
// life left) and is critical 7 days before; a job waiting 15 minutes warns,
// an hour is critical.
var DefaultThresholds = Thresholds{DriftWarning: 1, CertWarning: 21, CertCritical: 7,
	QueueWarning: 15 * time.Minute, QueueCritical: time.Hour}

// Result is the judged state: what the plugin prints and returns.
type Result struct {
	Status Status
	// Problems are the reasons for Status, worst first; Lines every check's
	// one-line result (the plugin's long text).
	Problems []string
	Lines    []string
	// Perf is the performance data, in the guidelines' format.
	Perf []string
}

// Check judges repos' states against thresholds at now.
func Check(states []*State, th Thresholds, now time.Time) Result {
	var res Result
	type problem struct {
		s    Status
		text string
	}
	var problems []problem
	add := func(s Status, line string) {
		res.Lines = append(res.Lines, fmt.Sprintf("%s: %s", s, line))
		res.Status = worse(res.Status, s)
		if s != OK {
			problems = append(problems, problem{s, line})
		}
	}
	for _, st := range states {
		prefix := ""
		if len(states) > 1 {
			prefix = st.Name + ":"
		}
		label := func(l string) string { return "'" + prefix + l + "'" }
		name := st.Name + ": "

		// The last deployment.
		switch d := st.LastDeploy; {
		case d == nil:
			add(OK, name+"no deployment recorded yet")
		case d.Failed():
			add(Critical, fmt.Sprintf("%slast deployment %s (%s ago)", name, d.Summary, age(now, d.Finished)))
		default:
			add(OK, fmt.Sprintf("%slast deployment %s (%s ago)", name, d.Summary, age(now, d.Finished)))
		}
		if d := st.LastDeploy; d != nil {
			failed := 0
			if d.Failed() {
				failed = 1
			}
			res.Perf = append(res.Perf,
				fmt.Sprintf("%s=%d;;0;0;1", label("deploy_failed"), failed),
				fmt.Sprintf("%s=%ds;;;0", label("deploy_age"), secs(now.Sub(d.Finished))))
		}
		// A failed unattended pass warns: nothing is down yet, but while
		// it fails no drift is seen and no certificate renewed (the
		// certificate check turns critical before one expires).
		passFailed := 0
		if r := st.LastPass; r.Failed() {
			passFailed = 1
			add(Warning, fmt.Sprintf("%slast unattended pass %s (%s ago)", name, r.Summary, age(now, r.Finished)))
		}
		res.Perf = append(res.Perf, fmt.Sprintf("%s=%d;;0;0;1", label("pass_failed"), passFailed))

		// Drift since the last deployment.
		drifted, driftAge := 0, time.Duration(0)
		if st.Drift != nil {
			drifted, driftAge = st.Drift.Resources, now.Sub(st.Drift.Since)
		}
		s := OK
		switch {
		case th.DriftCritical > 0 && drifted >= th.DriftCritical:
			s = Critical
		case th.DriftWarning > 0 && drifted >= th.DriftWarning:
			s = Warning
		}
		if drifted > 0 {
			add(s, fmt.Sprintf("%s%d resource%s drifted from the deployed commit, first seen %s ago (%s)", name, drifted, plural(drifted), age(now, st.Drift.Since), st.Drift.Summary))
		} else {
			add(s, name+"no drift recorded since the last deployment")
		}
		res.Perf = append(res.Perf,
			fmt.Sprintf("%s=%d;%s;%s;0", label("drifted"), drifted, countThreshold(th.DriftWarning), countThreshold(th.DriftCritical)),
			fmt.Sprintf("%s=%ds;;;0", label("drift_age"), secs(driftAge)))

		// Certificates.
		soonest := math.Inf(1)
		var soonestName string
		read := 0 // the certificates whose expiry is known
		for _, c := range st.Certs {
			if c.Err != nil {
				add(Critical, fmt.Sprintf("%scertificate %s: %v", name, c.Name, c.Err))
				continue
			}
			read++
			if d := c.NotAfter.Sub(now).Hours() / 24; d < soonest {
				soonest, soonestName = d, c.Name
			}
		}
		if soonestName != "" {
			s := OK
			switch {
			case th.CertCritical > 0 && soonest < th.CertCritical:
				s = Critical
			case th.CertWarning > 0 && soonest < th.CertWarning:
				s = Warning
			}
			verb := "expires in"
			if soonest < 0 {
				verb = "expired"
			}
			add(s, fmt.Sprintf("%scertificate %s %s %s (the soonest of %d)", name, soonestName, verb, days(soonest), read))
			res.Perf = append(res.Perf, fmt.Sprintf("%s=%.1f;%s;%s", label("cert_days_left"), soonest, lowThreshold(th.CertWarning), lowThreshold(th.CertCritical)))
		}

		// The queue.
		q := st.Queue
		qAge := time.Duration(0)
		if !q.Oldest.IsZero() {
			qAge = now.Sub(q.Oldest)
		}
		s = OK
		switch {
		case th.QueueCritical > 0 && qAge >= th.QueueCritical:
			s = Critical
		case th.QueueWarning > 0 && qAge >= th.QueueWarning:
			s = Warning
		}
		if q.Pending+q.Running == 0 {
			add(s, name+"queue empty")
		} else {
			add(s, fmt.Sprintf("%s%d job%s queued (%d running), the oldest pushed %s ago", name, q.Pending+q.Running, plural(q.Pending+q.Running), q.Running, age(now, q.Oldest)))
		}
		res.Perf = append(res.Perf,
			fmt.Sprintf("%s=%d;;;0", label("queue_jobs"), q.Pending+q.Running),
			fmt.Sprintf("%s=%ds;%s;%s;0", label("queue_oldest_age"), secs(qAge), durThreshold(th.QueueWarning), durThreshold(th.QueueCritical)))
	}
	sort.SliceStable(problems, func(i, j int) bool { return rank[problems[i].s] > rank[problems[j].s] })
	for _, p := range problems {
		res.Problems = append(res.Problems, p.text)
	}
	return res
}

// Output renders the plugin output: one status line "RUNNER STATE - text |
// perfdata", then the long text, one check per line
// (nagios-plugins.org/doc/guidelines.html, "Plugin Output for Nagios").
func (r Result) Output() string {
	text := "everything fine"
	if len(r.Problems) > 0 {
		text = strings.Join(r.Problems, "; ")
	} else if len(r.Lines) > 0 {
		var oks []string
		for _, l := range r.Lines {
			oks = append(oks, strings.TrimPrefix(l, "OK: "))
		}
		text = strings.Join(oks, "; ")
	}
	// "|" separates performance data: never inside the text.
	text = strings.ReplaceAll(text, "|", "/")
	var b strings.Builder
	fmt.Fprintf(&b, "RUNNER %s - %s", r.Status, text)
	if len(r.Perf) > 0 {
		fmt.Fprintf(&b, " | %s", strings.Join(r.Perf, " "))
	}
	b.WriteString("\n")
	for _, l := range r.Lines {
		fmt.Fprintf(&b, "%s\n", strings.ReplaceAll(l, "|", "/"))
	}
	return b.String()
}

// countThreshold renders "alert at n or more" as a Nagios range: "n-1"
// alerts above n-1 (outside 0..n-1); "" when off.
func countThreshold(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprint(n - 1)
}

// lowThreshold renders "alert below d" as the range "d:" (outside d..∞).
func lowThreshold(d float64) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%g:", d)
}

func durThreshold(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprint(secs(d))
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return days(d.Hours() / 24)
}

func days(d float64) string {
	return fmt.Sprintf("%.0f days", math.Abs(d))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
