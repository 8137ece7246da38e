package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// notRepoPaths are backticked names in the READMEs that look like repo
// paths but name something else.
var notRepoPaths = map[string]string{
	"freeipa/freeipa":                    "the FreeIPA container image",
	"internal/customizations":            "a package of the AWS SDK's Route 53 module",
	"hooks/pre-receive.h00-runner-check": "the link Gitolite makes in a hosted repository's hooks",
}

var (
	mdLink       = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	backticked   = regexp.MustCompile("`([^`\\s]+)`")
	pathLike     = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/?$`)
	fencedBlock  = regexp.MustCompile("(?ms)^```.*?^```")
	skipPathDirs = map[string]bool{".git": true, "node_modules": true}
)

// TestDocsReferenceFilesThatExist: every relative link in a README.md, and
// every backticked path in one that starts with a directory of this repo,
// names a file or directory that exists (relative to the README, or to the
// repo root), so the docs do not send a reader to files that are gone
// (issue 17, item 8: DESIGN.md, testdata/homelab/policy/).
func TestDocsReferenceFilesThatExist(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var readmes []string
	dirNames := map[string]bool{} // every directory name in the repo
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipPathDirs[d.Name()] || strings.HasPrefix(d.Name(), "runner-lab") {
				return filepath.SkipDir
			}
			dirNames[d.Name()] = true
			return nil
		}
		if d.Name() == "README.md" {
			readmes = append(readmes, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(readmes) < 5 {
		t.Fatalf("found only %d README.md files under %s", len(readmes), root)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	checked := 0
	for _, readme := range readmes {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, readme)
		dir := filepath.Dir(readme)
		text := string(b)
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			if !exists(filepath.Join(dir, target)) {
				t.Errorf("%s: link (%s): no such file in the repo", rel, m[1])
			}
		}
		// Commands in code blocks are examples, not references.
		for _, m := range backticked.FindAllStringSubmatch(fencedBlock.ReplaceAllString(text, ""), -1) {
			p := m[1]
			first, _, multi := strings.Cut(strings.TrimSuffix(p, "/"), "/")
			if !pathLike.MatchString(p) || !strings.Contains(p, "/") || !dirNames[first] || notRepoPaths[p] != "" {
				continue
			}
			checked++
			if exists(filepath.Join(dir, p)) || exists(filepath.Join(root, p)) {
				continue
			}
			if !multi {
				continue // a bare directory name ("sim/"): one of that name exists
			}
			t.Errorf("%s: `%s`: no such file or directory, relative to the README or to the repo root", rel, p)
		}
	}
	if checked < 50 {
		t.Errorf("checked only %d references; is the parser broken?", checked)
	}
}

// TestHelpMatchesFlags: every flag a command declares is in its usage
// line, and every command that writes to the repository (writesRepo) is
// named where runner help and `runner CMD -h` explain --allow-other-user.
func TestHelpMatchesFlags(t *testing.T) {
	global := map[string]bool{"config": true, "log-format": true, "log-level": true, "allow-other-user": true, "h": true, "help": true}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)
	for _, c := range commands() {
		var out bytes.Buffer
		args := []string{c.name, "-h"}
		if c.name == "hook" || c.name == "policy" {
			args = []string{c.name, strings.Fields(strings.Split(c.args, "|")[0])[0], "-h"}
		}
		run(args, strings.NewReader(""), &out, &out, nil)
		usage, _, _ := strings.Cut(out.String(), "\n")
		if !strings.HasPrefix(usage, "Usage: runner "+c.name) {
			t.Errorf("runner %s -h: first line %q, want the usage line", c.name, usage)
			continue
		}
		for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
			if f := m[1]; !global[f] && !regexp.MustCompile(`(^|[\s\[|])--?`+regexp.QuoteMeta(f)+`\b`).MatchString(usage) {
				t.Errorf("runner %s: flag -%s is not in the usage line %q", c.name, f, usage)
			}
		}
		if c.name != "version" && !strings.Contains(out.String(), writingCommands()) {
			t.Errorf("runner %s -h: --allow-other-user does not list %s:\n%s", c.name, writingCommands(), out.String())
		}
	}
	var help bytes.Buffer
	printHelp(&help)
	for name := range writesRepo {
		if !strings.Contains(writingCommands(), name) {
			t.Errorf("writingCommands() %q lacks %s", writingCommands(), name)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(help.String()), " "), writingCommands()) {
		t.Errorf("runner help: --allow-other-user does not list %s:\n%s", writingCommands(), help.String())
	}
}
