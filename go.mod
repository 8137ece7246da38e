module github.com/gitops-runner/gitops-runner

go 1.26
