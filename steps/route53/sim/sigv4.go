package sim

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
)

func authError(code, msg string) *apiError {
	return &apiError{status: http.StatusForbidden, code: code, message: msg}
}

// sigParts is a parsed SigV4 Authorization header.
type sigParts struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseAuthorization(h string) (sigParts, bool) {
	var p sigParts
	rest, ok := strings.CutPrefix(h, sigAlgorithm+" ")
	if !ok {
		return p, false
	}
	for _, f := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return p, false
		}
		switch k {
		case "Credential":
			c := strings.Split(v, "/")
			if len(c) != 5 || c[4] != "aws4_request" {
				return p, false
			}
			p.accessKey, p.date, p.region, p.service = c[0], c[1], c[2], c[3]
		case "SignedHeaders":
			p.signedHeaders = strings.Split(v, ";")
		case "Signature":
			p.signature = v
		}
	}
	return p, p.accessKey != "" && len(p.signedHeaders) > 0 && p.signature != ""
}

// verify checks the request's SigV4 signature by signing a copy of it (only
// the headers the client signed) with the secret of its access key using the
// SDK's own signer, and comparing signatures. It returns the access key ID.
func (s *Server) verify(r *http.Request, body []byte) (string, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", authError("MissingAuthenticationToken", "Missing Authentication Token")
	}
	p, ok := parseAuthorization(h)
	if !ok {
		return "", authError("IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters of an AWS4-HMAC-SHA256 signature.")
	}
	secret, ok := s.opts.Credentials[p.accessKey]
	if !ok {
		return p.accessKey, authError("InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if p.service != "route53" {
		return p.accessKey, authError("SignatureDoesNotMatch", "Credential should be scoped to correct service: 'route53'. ")
	}
	if p.region != s.opts.Region {
		return p.accessKey, authError("SignatureDoesNotMatch", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", p.region))
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil || !strings.HasPrefix(amzDate, p.date) {
		return p.accessKey, authError("IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	now := s.opts.Now().UTC()
	if d := now.Sub(t); d > s.opts.MaxClockSkew || d < -s.opts.MaxClockSkew {
		return p.accessKey, authError("SignatureDoesNotMatch", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, now.Add(-s.opts.MaxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat), s.opts.MaxClockSkew))
	}

	c, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return p.accessKey, authError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
	}
	c.Host = r.Host
	c.ContentLength = 0
	for _, name := range p.signedHeaders {
		switch name {
		case "host", "x-amz-date":
		case "content-length":
			c.ContentLength = int64(len(body))
		default:
			for _, v := range r.Header.Values(name) {
				c.Header.Add(name, v)
			}
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: p.accessKey, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, c, hex.EncodeToString(sum[:]), p.service, p.region, t); err != nil {
		return p.accessKey, authError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
	}
	want, _ := parseAuthorization(c.Header.Get("Authorization"))
	if subtle.ConstantTimeCompare([]byte(want.signature), []byte(p.signature)) != 1 {
		return p.accessKey, authError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return p.accessKey, nil
}
