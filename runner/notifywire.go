package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/gitops-runner/gitops-runner/runner/config"
	"github.com/gitops-runner/gitops-runner/runner/notify"
	"github.com/gitops-runner/gitops-runner/runner/pipeline"
	"github.com/gitops-runner/gitops-runner/runner/queue"
	"github.com/gitops-runner/gitops-runner/steps"
)

// observer is what the pipeline tells about each recorded run: the API
// call counts are flushed to apiCallsFile (when not ""), and the mail
// notifier mails when the config has notify.mail; nil when neither.
func observer(cfg *config.Config, rc config.Repo, log logrus.FieldLogger, red *steps.Redactor, apiCallsFile string) pipeline.Observer {
	var obs observers
	if apiCallsFile != "" {
		obs = append(obs, apiCallsFlusher(apiCallsFile))
	}
	if n := notifier(cfg, rc, log, red); n != nil { // not a nil *Notifier in a non-nil interface
		obs = append(obs, n)
	}
	switch len(obs) {
	case 0:
		return nil
	case 1:
		return obs[0]
	}
	return obs
}

// observers tells each of its observers, in order.
type observers []pipeline.Observer

func (o observers) Recorded(rep *pipeline.Report, statusCommit string) {
	for _, x := range o {
		x.Recorded(rep, statusCommit)
	}
}

func notifier(cfg *config.Config, rc config.Repo, log logrus.FieldLogger, red *steps.Redactor) *notify.Notifier {
	if cfg.Notify.Mail == nil {
		return nil
	}
	return &notify.Notifier{Mail: cfg.Notify.Mail, Repo: rc.Name, RepoPath: rc.Path, Branch: rc.Branch,
		StatusBranch: rc.StatusBranch, Redact: red.Redact, Log: log}
}

// checkStuck mails about the repo's jobs that wait in the queue longer than
// notify.mail.stuckAfter (once per job; `runner serve` calls it with every
// look at the queue).
func checkStuck(ctx context.Context, e *env, cfg *config.Config, rc config.Repo) {
	n := notifier(cfg, rc, nil, &steps.Redactor{})
	if n == nil {
		return
	}
	log, err := e.logger(cfg, &steps.Redactor{})
	if err != nil {
		return
	}
	n.Log = log
	sp, err := queue.Open(filepath.Join(cfg.StateDir, "queue", rc.Name))
	if err == nil {
		_, err = n.Stuck(ctx, sp, filepath.Join(cfg.StateDir, "notify", rc.Name, "stuck"))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "runner serve: notify about stuck jobs of %s: %v\n", rc.Name, err)
	}
}
