package sim_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/gitops-runner/gitops-runner/steps/route53/sim"
)

// A simulator serving the API and DNS on loopback, used by the real SDK client.
func Example() {
	s := sim.New(sim.Options{})
	defer func() {
		if err := s.Close(); err != nil {
			log.Print(err)
		}
	}()
	apiURL, err := s.ListenHTTP("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	dnsAddr, err := s.ListenDNS("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	zoneID, err := s.CreateZone("example.com")
	if err != nil {
		log.Fatal(err)
	}

	client := route53.New(route53.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(sim.DefaultAccessKeyID, sim.DefaultSecretAccessKey, ""),
		BaseEndpoint: aws.String(apiURL),
	})
	_, err = client.ChangeResourceRecordSets(context.Background(), &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &types.ChangeBatch{Changes: []types.Change{{
			Action: types.ChangeActionUpsert,
			ResourceRecordSet: &types.ResourceRecordSet{
				Name: aws.String("www.example.com"), Type: types.RRTypeA, TTL: aws.Int64(60),
				ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.1")}},
			},
		}}},
	})
	if err != nil {
		log.Fatal(err)
	}

	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	r, _, err := (&dns.Client{Net: "tcp"}).Exchange(m, dnsAddr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Answer[0])
	fmt.Println("ChangeResourceRecordSets calls:", s.Count(sim.OpChangeResourceRecordSets))
	// Output:
	// www.example.com.	60	IN	A	192.0.2.1
	// ChangeResourceRecordSets calls: 1
}
