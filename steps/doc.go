// Package steps is the resource model shared by the pipeline and every backend:
// resource IDs, the Backend contract (decode, observe, diff, apply), the plan and
// its field-level changes, dependency ordering and the DAG executor that applies a
// plan. Backends live in subfolders and import only this package from the project.
package steps
