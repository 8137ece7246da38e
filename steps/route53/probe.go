package route53

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
)

// Probe makes read-only calls with the configured credentials, for
// `runner doctor`: for each configured zone, ListHostedZonesByName to find
// it and GetHostedZone to read it (Route 53 API Reference). It returns what
// it found and the server's time from the last response's Date header (the
// SDK's GetServerTime), zero if there was none.
func (b *Backend) Probe(ctx context.Context) (string, time.Time, error) {
	if err := b.configured(); err != nil {
		return "", time.Time{}, err
	}
	if len(b.zones) == 0 {
		out, err := b.client.ListHostedZonesByName(ctx, &r53.ListHostedZonesByNameInput{MaxItems: aws.Int32(1)})
		if err != nil {
			return "", time.Time{}, b.wrapAPI("ListHostedZonesByName", err)
		}
		date, _ := awsmiddleware.GetServerTime(out.ResultMetadata)
		return "ListHostedZonesByName: the credentials work (no zones configured)", date, nil
	}
	var found []string
	var date time.Time
	for _, zone := range b.zones {
		id, err := b.lookupZone(ctx, zone)
		if err != nil {
			return "", time.Time{}, err
		}
		if id == "" {
			return "", time.Time{}, fmt.Errorf("hosted zone %s not found with these credentials", zone)
		}
		out, err := b.client.GetHostedZone(ctx, &r53.GetHostedZoneInput{Id: aws.String(id)})
		if err != nil {
			return "", time.Time{}, b.wrapAPI("GetHostedZone "+zone, err)
		}
		n := int64(0)
		if out.HostedZone != nil {
			n = aws.ToInt64(out.HostedZone.ResourceRecordSetCount)
		}
		found = append(found, fmt.Sprintf("%s (%s, %d record sets)", zone, id, n))
		date, _ = awsmiddleware.GetServerTime(out.ResultMetadata)
	}
	return "GetHostedZone " + strings.Join(found, ", "), date, nil
}
