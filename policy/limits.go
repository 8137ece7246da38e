package policy

import (
	"fmt"

	"github.com/gitops-runner/gitops-runner/internal/bytesize"
)

// FileSize is a policy file's path and size in bytes, known before its
// content is read (a git blob's size).
type FileSize struct {
	Path string
	Size int64
}

// SizeError reports policy files beyond a limit of Options. Nothing was
// parsed.
type SizeError struct {
	// Option is the Options field of the limit: "MaxFiles",
	// "MaxFileBytes" or "MaxTotalBytes".
	Option string
	Limit  int64 // its value
	// File is the file over the limit: the file that is too big, the first
	// file beyond MaxFiles, or the file at which the total went over.
	File string
	// Size is the file's size (MaxFileBytes), the number of files
	// (MaxFiles) or the total bytes of all files (MaxTotalBytes).
	Size int64
}

func (e *SizeError) Error() string {
	switch e.Option {
	case "MaxFiles":
		return fmt.Sprintf("policy: %d policy files, more than the limit of %d (a fixed limit of the runner); %s is file %d",
			e.Size, e.Limit, e.File, e.Limit+1)
	case "MaxTotalBytes":
		return fmt.Sprintf("policy: the policy files total %s, more than the limit of %s (a fixed limit of the runner); the total went over at %s",
			bytesize.Format(e.Size), bytesize.Format(e.Limit), e.File)
	}
	return fmt.Sprintf("policy: %s is %s, more than the limit of %s per policy file (a fixed limit of the runner)",
		e.File, bytesize.Format(e.Size), bytesize.Format(e.Limit))
}

// CheckSizes checks the repo's policy files (every .rego file, tests
// included, in the order given) against the limits of o, and returns a
// *SizeError for the first limit hit. Compile and Test call it before they
// parse anything; a caller reading files from git can call it with the
// blobs' sizes before it reads them.
func (o Options) CheckSizes(files []FileSize) error {
	maxFiles, maxFile, maxTotal := int64(o.MaxFiles), o.MaxFileBytes, o.MaxTotalBytes
	if maxFiles < 0 || maxFile < 0 || maxTotal < 0 {
		return fmt.Errorf("policy: negative file limit (MaxFiles %d, MaxFileBytes %d, MaxTotalBytes %d)", maxFiles, maxFile, maxTotal)
	}
	if maxFiles == 0 {
		maxFiles = DefaultMaxFiles
	}
	if maxFile == 0 {
		maxFile = DefaultMaxFileBytes
	}
	if maxTotal == 0 {
		maxTotal = DefaultMaxTotalBytes
	}
	if n := int64(len(files)); n > maxFiles {
		return &SizeError{Option: "MaxFiles", Limit: maxFiles, File: files[maxFiles].Path, Size: n}
	}
	var total int64
	for _, f := range files {
		if f.Size > maxFile {
			return &SizeError{Option: "MaxFileBytes", Limit: maxFile, File: f.Path, Size: f.Size}
		}
	}
	for _, f := range files {
		total += f.Size
		if total > maxTotal {
			var all int64
			for _, g := range files {
				all += g.Size
			}
			return &SizeError{Option: "MaxTotalBytes", Limit: maxTotal, File: f.Path, Size: all}
		}
	}
	return nil
}
