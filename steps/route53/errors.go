package route53

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gitops-runner/gitops-runner/steps"
)

// wrapAPI wraps an API error with the operation, redacting secrets, and
// marks throttling, concurrent-change and server errors transient.
func (b *Backend) wrapAPI(op string, err error) error {
	text := err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) {
		// The code and Route 53's message say it all; the SDK's wrapping
		// (operation, status, request ID) only adds noise to reports.
		text = ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	e := &apiError{msg: op + ": " + b.red.Redact(text), err: err}
	if isRetryable(err) {
		return steps.Transient(e)
	}
	return e
}

// apiError is an API error with a redacted message; errors.As still reaches
// the SDK's typed error.
type apiError struct {
	msg string
	err error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// isRetryable reports whether an API error may pass: throttling,
// PriorRequestNotComplete (another change of the zone is still PENDING,
// docs/api-facts.md §4), server errors, and connection failures.
func isRetryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded",
			"InternalFailure", "InternalError", "ServiceUnavailable":
			return true
		}
		var re *smithyhttp.ResponseError
		return errors.As(err, &re) && re.HTTPStatusCode() >= 500
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
