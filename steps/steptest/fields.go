package steptest

import (
	"slices"

	"github.com/gitops-runner/gitops-runner/steps"
)

// ProblemFields are the fields a decode error's FieldErrors name, sorted:
// what a backend's decode tests compare with the fields a bad spec should
// be faulted on.
func ProblemFields(err error) []string {
	var fields []string
	for _, fe := range steps.FieldErrors(err) {
		fields = append(fields, fe.Field)
	}
	slices.Sort(fields)
	return fields
}
