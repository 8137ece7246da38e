package sim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// xmlns is the namespace of every Route 53 request and response document.
const xmlns = "https://route53.amazonaws.com/doc/2013-04-01/"

// response is an API answer before it is written.
type response struct {
	status   int
	body     []byte
	header   map[string]string
	code     string // AWS error code, for the log
	reset    bool   // abort the connection instead of answering
	injected bool
}

func (r response) write(w http.ResponseWriter, reqID string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", reqID)
	for k, v := range r.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

func xmlResponse(status int, v any) response {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if err := xml.NewEncoder(&b).Encode(v); err != nil {
		return errorResponse(&apiError{status: 500, code: "InternalFailure", message: "encode response: " + err.Error()}, "")
	}
	return response{status: status, body: b.Bytes()}
}

type xErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     xError   `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type xError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// errorResponse renders the standard REST-XML error document
// (<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>), which
// the SDK maps to its typed errors by Code (docs/api-facts.md §4).
func errorResponse(e *apiError, reqID string) response {
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	r := xmlResponse(e.status, xErrorResponse{Xmlns: xmlns, Error: xError{Type: typ, Code: e.code, Message: e.message}, RequestID: reqID})
	r.status = e.status
	r.code = e.code
	return r
}

// route maps a request to its operation and path parameter (zone or change ID).
func route(method, path string) (string, string) {
	p, ok := strings.CutPrefix(path, "/2013-04-01/")
	if !ok {
		return OpUnknown, ""
	}
	p = strings.TrimSuffix(p, "/")
	parts := strings.Split(p, "/")
	switch {
	case p == "hostedzone" && method == http.MethodPost:
		return OpCreateHostedZone, ""
	case p == "hostedzone" && method == http.MethodGet:
		return OpListHostedZones, ""
	case p == "hostedzonesbyname" && method == http.MethodGet:
		return OpListHostedZonesByName, ""
	case len(parts) == 2 && parts[0] == "hostedzone" && method == http.MethodGet:
		return OpGetHostedZone, parts[1]
	case len(parts) == 3 && parts[0] == "hostedzone" && parts[2] == "rrset" && method == http.MethodGet:
		return OpListResourceRecordSets, parts[1]
	case len(parts) == 3 && parts[0] == "hostedzone" && parts[2] == "rrset" && method == http.MethodPost:
		return OpChangeResourceRecordSets, parts[1]
	case len(parts) == 2 && parts[0] == "change" && method == http.MethodGet:
		return OpGetChange, parts[1]
	}
	return OpUnknown, ""
}

// dispatch runs fault injection and then the operation.
func (s *Server) dispatch(op, param string, r *http.Request, body []byte, reqID string) response {
	if op == OpUnknown {
		return errorResponse(&apiError{status: 400, code: "InvalidAction",
			message: fmt.Sprintf("The action %s %s is not valid for this web service.", r.Method, r.URL.Path)}, reqID)
	}
	if f := s.injected(op); f != "" {
		return faultResponse(f, reqID)
	}
	resp := s.run(op, param, r, body, reqID)
	if resp.status < 300 && (op == OpCreateHostedZone || op == OpChangeResourceRecordSets) {
		s.changed()
	}
	return resp
}

// run executes one operation under the state lock.
func (s *Server) run(op, param string, r *http.Request, body []byte, reqID string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	var resp response
	var e *apiError
	q := r.URL.Query()
	switch op {
	case OpCreateHostedZone:
		resp, e = s.createHostedZone(body)
	case OpGetHostedZone:
		resp, e = s.getHostedZone(param)
	case OpListHostedZones:
		resp, e = s.listHostedZones(q)
	case OpListHostedZonesByName:
		resp, e = s.listHostedZonesByName(q)
	case OpListResourceRecordSets:
		resp, e = s.listResourceRecordSets(param, q)
	case OpChangeResourceRecordSets:
		resp, e = s.changeResourceRecordSets(param, body)
	case OpGetChange:
		resp, e = s.getChange(param)
	}
	if e != nil {
		return errorResponse(e, reqID)
	}
	return resp
}

type xHostedZone struct {
	ID                     string      `xml:"Id"`
	Name                   string      `xml:"Name"`
	CallerReference        string      `xml:"CallerReference"`
	Config                 xZoneConfig `xml:"Config"`
	ResourceRecordSetCount int         `xml:"ResourceRecordSetCount"`
}

type xZoneConfig struct {
	Comment     string `xml:"Comment,omitempty"`
	PrivateZone bool   `xml:"PrivateZone"`
}

type xDelegationSet struct {
	NameServers []string `xml:"NameServers>NameServer"`
}

type xChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

func hostedZoneXML(z *zone) xHostedZone {
	return xHostedZone{ID: "/hostedzone/" + z.id, Name: apiName(z.name), CallerReference: z.callerRef,
		Config: xZoneConfig{Comment: z.comment}, ResourceRecordSetCount: len(z.sets)}
}

// changeInfo renders a change. A change is PENDING in the response that
// submits it (as on AWS) and in GetChange until ChangeDelay has passed.
func (s *Server) changeInfo(c *change, submitted bool) xChangeInfo {
	status := "PENDING"
	if !submitted && !s.opts.Now().Before(c.Submitted.Add(s.opts.ChangeDelay)) {
		status = "INSYNC"
	}
	return xChangeInfo{ID: "/change/" + c.ID, Status: status,
		SubmittedAt: c.Submitted.UTC().Format("2006-01-02T15:04:05.000Z"), Comment: c.Comment}
}

func noSuchZone(id string) *apiError {
	return &apiError{status: 404, code: "NoSuchHostedZone", message: "No hosted zone found with ID: " + id}
}

func decodeBody(body []byte, v any) *apiError {
	if err := xml.Unmarshal(body, v); err != nil {
		return invalidInput("Invalid XML ; %v", err)
	}
	return nil
}

type xCreateHostedZoneRequest struct {
	Name             string `xml:"Name"`
	CallerReference  string `xml:"CallerReference"`
	DelegationSetID  string `xml:"DelegationSetId"`
	HostedZoneConfig *struct {
		Comment     string `xml:"Comment"`
		PrivateZone bool   `xml:"PrivateZone"`
	} `xml:"HostedZoneConfig"`
	VPC *struct {
		VPCID string `xml:"VPCId"`
	} `xml:"VPC"`
}

type xCreateHostedZoneResponse struct {
	XMLName       xml.Name       `xml:"CreateHostedZoneResponse"`
	Xmlns         string         `xml:"xmlns,attr"`
	HostedZone    xHostedZone    `xml:"HostedZone"`
	ChangeInfo    xChangeInfo    `xml:"ChangeInfo"`
	DelegationSet xDelegationSet `xml:"DelegationSet"`
}

func (s *Server) createHostedZone(body []byte) (response, *apiError) {
	var req xCreateHostedZoneRequest
	if e := decodeBody(body, &req); e != nil {
		return response{}, e
	}
	if req.CallerReference == "" || req.Name == "" {
		return response{}, invalidInput("Name and CallerReference are required")
	}
	if req.VPC != nil || (req.HostedZoneConfig != nil && req.HostedZoneConfig.PrivateZone) {
		return response{}, invalidInput("Private hosted zones are not supported by the Route 53 simulator")
	}
	if req.DelegationSetID != "" {
		return response{}, &apiError{status: 404, code: "NoSuchDelegationSet", message: "No delegation set found with ID: " + req.DelegationSetID}
	}
	comment := ""
	if req.HostedZoneConfig != nil {
		comment = req.HostedZoneConfig.Comment
	}
	z, c, e := s.st.createZone(req.Name, req.CallerReference, comment, append([]string(nil), s.opts.NameServers...), s.opts.Now())
	if e != nil {
		return response{}, e
	}
	resp := xmlResponse(http.StatusCreated, xCreateHostedZoneResponse{Xmlns: xmlns, HostedZone: hostedZoneXML(z),
		ChangeInfo: s.changeInfo(c, true), DelegationSet: xDelegationSet{NameServers: z.nameServers}})
	resp.header = map[string]string{"Location": "https://route53.amazonaws.com/2013-04-01/hostedzone/" + z.id}
	return resp, nil
}

type xGetHostedZoneResponse struct {
	XMLName       xml.Name       `xml:"GetHostedZoneResponse"`
	Xmlns         string         `xml:"xmlns,attr"`
	HostedZone    xHostedZone    `xml:"HostedZone"`
	DelegationSet xDelegationSet `xml:"DelegationSet"`
}

func (s *Server) getHostedZone(id string) (response, *apiError) {
	z := s.st.zones[id]
	if z == nil {
		return response{}, noSuchZone(id)
	}
	return xmlResponse(http.StatusOK, xGetHostedZoneResponse{Xmlns: xmlns, HostedZone: hostedZoneXML(z),
		DelegationSet: xDelegationSet{NameServers: z.nameServers}}), nil
}

// maxItems parses the maxitems query parameter: default def, capped at limit
// (Route 53 returns at most limit items whatever is asked).
func maxItems(q url.Values, def, limit int) (int, *apiError) {
	v := q.Get("maxitems")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, invalidInput("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must be a positive integer", v)
	}
	return min(n, limit), nil
}

// page is what one call of a List API returns: up to limit items from
// items[start:], converted with conv, never nil (an empty listing is an
// empty element); rest are the items left out: the first names the
// response's Next* markers; none when the listing is complete
// (IsTruncated false).
func page[T, X any](items []T, start, limit int, conv func(T) X) (out []X, rest []T) {
	out = []X{}
	for i := start; i < len(items); i++ {
		if len(out) == limit {
			return out, items[i:]
		}
		out = append(out, conv(items[i]))
	}
	return out, nil
}

type xListHostedZonesResponse struct {
	XMLName     xml.Name      `xml:"ListHostedZonesResponse"`
	Xmlns       string        `xml:"xmlns,attr"`
	HostedZones []xHostedZone `xml:"HostedZones>HostedZone"`
	Marker      string        `xml:"Marker"`
	IsTruncated bool          `xml:"IsTruncated"`
	NextMarker  string        `xml:"NextMarker,omitempty"`
	MaxItems    int           `xml:"MaxItems"`
}

func (s *Server) listHostedZones(q url.Values) (response, *apiError) {
	limit, e := maxItems(q, 100, 100)
	if e != nil {
		return response{}, e
	}
	zs := s.st.zonesSorted()
	start := 0
	marker := q.Get("marker")
	if marker != "" {
		start = -1
		for i, z := range zs {
			if z.id == marker {
				start = i
			}
		}
		if start < 0 {
			return response{}, invalidInput("Invalid marker: %s", marker)
		}
	}
	out := xListHostedZonesResponse{Xmlns: xmlns, Marker: marker, MaxItems: limit}
	var rest []*zone
	out.HostedZones, rest = page(zs, start, limit, hostedZoneXML)
	if len(rest) > 0 {
		out.IsTruncated, out.NextMarker = true, rest[0].id
	}
	return xmlResponse(http.StatusOK, out), nil
}

type xListHostedZonesByNameResponse struct {
	XMLName          xml.Name      `xml:"ListHostedZonesByNameResponse"`
	Xmlns            string        `xml:"xmlns,attr"`
	HostedZones      []xHostedZone `xml:"HostedZones>HostedZone"`
	DNSName          string        `xml:"DNSName,omitempty"`
	HostedZoneID     string        `xml:"HostedZoneId,omitempty"`
	IsTruncated      bool          `xml:"IsTruncated"`
	NextDNSName      string        `xml:"NextDNSName,omitempty"`
	NextHostedZoneID string        `xml:"NextHostedZoneId,omitempty"`
	MaxItems         int           `xml:"MaxItems"`
}

// listHostedZonesByName lists zones in reversed-label name order starting at
// the first zone whose name is >= dnsname (and ID >= hostedzoneid for equal
// names); hostedzoneid without dnsname is InvalidInput (API reference).
func (s *Server) listHostedZonesByName(q url.Values) (response, *apiError) {
	limit, e := maxItems(q, 100, 100)
	if e != nil {
		return response{}, e
	}
	dnsname, zoneID := q.Get("dnsname"), q.Get("hostedzoneid")
	if zoneID != "" && dnsname == "" {
		return response{}, invalidInput("The input is not valid: HostedZoneId requires DNSName")
	}
	out := xListHostedZonesByNameResponse{Xmlns: xmlns, MaxItems: limit, HostedZoneID: zoneID}
	startKey := ""
	if dnsname != "" {
		n, err := normName(dnsname)
		if err != nil {
			return response{}, &apiError{status: 400, code: "InvalidDomainName", message: dnsname + " is not a valid domain name."}
		}
		out.DNSName = apiName(n)
		startKey = sortKey(n)
	}
	zs := s.st.zonesSorted()
	start := sort.Search(len(zs), func(i int) bool {
		k := sortKey(zs[i].name)
		return k > startKey || (k == startKey && zs[i].id >= zoneID)
	})
	var rest []*zone
	out.HostedZones, rest = page(zs, start, limit, hostedZoneXML)
	if len(rest) > 0 {
		out.IsTruncated, out.NextDNSName, out.NextHostedZoneID = true, apiName(rest[0].name), rest[0].id
	}
	return xmlResponse(http.StatusOK, out), nil
}

type xRecords struct {
	Records []xRecord `xml:"ResourceRecord"`
}

type xRecord struct {
	Value string `xml:"Value"`
}

type xAlias struct {
	HostedZoneID         string `xml:"HostedZoneId"`
	DNSName              string `xml:"DNSName"`
	EvaluateTargetHealth bool   `xml:"EvaluateTargetHealth"`
}

type xRRSet struct {
	Name            string    `xml:"Name"`
	Type            string    `xml:"Type"`
	TTL             *int64    `xml:"TTL,omitempty"`
	ResourceRecords *xRecords `xml:"ResourceRecords,omitempty"`
	AliasTarget     *xAlias   `xml:"AliasTarget,omitempty"`
}

type xListResourceRecordSetsResponse struct {
	XMLName            xml.Name `xml:"ListResourceRecordSetsResponse"`
	Xmlns              string   `xml:"xmlns,attr"`
	ResourceRecordSets []xRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated        bool     `xml:"IsTruncated"`
	NextRecordName     string   `xml:"NextRecordName,omitempty"`
	NextRecordType     string   `xml:"NextRecordType,omitempty"`
	MaxItems           int      `xml:"MaxItems"`
}

func rrsetXML(s *rrset) xRRSet {
	x := xRRSet{Name: apiName(s.name), Type: s.typ}
	if s.alias != nil {
		x.AliasTarget = &xAlias{HostedZoneID: s.alias.HostedZoneID, DNSName: apiName(s.alias.DNSName), EvaluateTargetHealth: s.alias.EvaluateTargetHealth}
		return x
	}
	ttl := s.ttl
	x.TTL = &ttl
	x.ResourceRecords = &xRecords{}
	for _, v := range s.values {
		x.ResourceRecords.Records = append(x.ResourceRecords.Records, xRecord{Value: v})
	}
	return x
}

// listResourceRecordSets pages through a zone in Route 53's order: up to 300
// sets per call (the API maximum), starting at the first set whose name is
// >= name and, for that name, whose type is >= type.
func (s *Server) listResourceRecordSets(id string, q url.Values) (response, *apiError) {
	z := s.st.zones[id]
	if z == nil {
		return response{}, noSuchZone(id)
	}
	limit, e := maxItems(q, 300, 300)
	if e != nil {
		return response{}, e
	}
	name, typ := q.Get("name"), q.Get("type")
	if typ != "" && name == "" {
		return response{}, invalidInput("The input is not valid: StartRecordType requires StartRecordName")
	}
	if q.Get("identifier") != "" {
		return response{}, invalidInput("StartRecordIdentifier is not supported by the Route 53 simulator (no routing policies)")
	}
	if typ != "" && !knownTypes[typ] {
		return response{}, invalidInput("1 validation error detected: Value '%s' at 'startRecordType' failed to satisfy constraint: Member must satisfy enum value set", typ)
	}
	start := 0
	if name != "" {
		n, err := normName(name)
		if err != nil {
			return response{}, invalidInput("Invalid StartRecordName: %s", name)
		}
		key := sortKey(n)
		start = sort.Search(len(z.sorted), func(i int) bool {
			k := z.sorted[i].key
			return k > key || (k == key && z.sorted[i].typ >= typ)
		})
	}
	out := xListResourceRecordSetsResponse{Xmlns: xmlns, MaxItems: limit}
	var rest []*rrset
	out.ResourceRecordSets, rest = page(z.sorted, start, limit, rrsetXML)
	if len(rest) > 0 {
		out.IsTruncated, out.NextRecordName, out.NextRecordType = true, apiName(rest[0].name), rest[0].typ
	}
	return xmlResponse(http.StatusOK, out), nil
}

type xIgnored struct {
	Inner string `xml:",innerxml"`
}

// xInRRSet is a record set in a change batch: what ListResourceRecordSets
// answers (xRRSet) and the routing-policy elements, read only to refuse them.
type xInRRSet struct {
	xRRSet
	SetIdentifier           *xIgnored `xml:"SetIdentifier"`
	Weight                  *xIgnored `xml:"Weight"`
	Region                  *xIgnored `xml:"Region"`
	Failover                *xIgnored `xml:"Failover"`
	GeoLocation             *xIgnored `xml:"GeoLocation"`
	GeoProximityLocation    *xIgnored `xml:"GeoProximityLocation"`
	CidrRoutingConfig       *xIgnored `xml:"CidrRoutingConfig"`
	MultiValueAnswer        *xIgnored `xml:"MultiValueAnswer"`
	HealthCheckID           *xIgnored `xml:"HealthCheckId"`
	TrafficPolicyInstanceID *xIgnored `xml:"TrafficPolicyInstanceId"`
}

type xChangeRequest struct {
	ChangeBatch struct {
		Comment string `xml:"Comment"`
		Changes []struct {
			Action            string   `xml:"Action"`
			ResourceRecordSet xInRRSet `xml:"ResourceRecordSet"`
		} `xml:"Changes>Change"`
	} `xml:"ChangeBatch"`
}

type xChangeResponse struct {
	XMLName    xml.Name    `xml:"ChangeResourceRecordSetsResponse"`
	Xmlns      string      `xml:"xmlns,attr"`
	ChangeInfo xChangeInfo `xml:"ChangeInfo"`
}

func (s *Server) changeResourceRecordSets(id string, body []byte) (response, *apiError) {
	z := s.st.zones[id]
	if z == nil {
		return response{}, noSuchZone(id)
	}
	var req xChangeRequest
	if e := decodeBody(body, &req); e != nil {
		return response{}, e
	}
	if s.opts.RejectWhilePending {
		if c := s.st.changes[z.lastChange]; c != nil && s.changeInfo(c, false).Status == "PENDING" {
			return response{}, &apiError{status: 400, code: "PriorRequestNotComplete",
				message: "The request was rejected because Route 53 was still processing a prior request."}
		}
	}
	changes := make([]changeReq, 0, len(req.ChangeBatch.Changes))
	for _, c := range req.ChangeBatch.Changes {
		x := c.ResourceRecordSet
		cr := changeReq{action: c.Action, set: RecordSet{Name: x.Name, Type: x.Type}}
		if x.TTL != nil {
			cr.hasTTL, cr.set.TTL = true, *x.TTL
		}
		if x.ResourceRecords != nil {
			cr.hasRecords = true
			for _, r := range x.ResourceRecords.Records {
				cr.set.Values = append(cr.set.Values, r.Value)
			}
		}
		if x.AliasTarget != nil {
			cr.set.Alias = &Alias{HostedZoneID: x.AliasTarget.HostedZoneID, DNSName: x.AliasTarget.DNSName,
				EvaluateTargetHealth: x.AliasTarget.EvaluateTargetHealth}
		}
		for name, present := range map[string]bool{
			"SetIdentifier": x.SetIdentifier != nil, "Weight": x.Weight != nil, "Region": x.Region != nil,
			"Failover": x.Failover != nil, "GeoLocation": x.GeoLocation != nil, "GeoProximityLocation": x.GeoProximityLocation != nil,
			"CidrRoutingConfig": x.CidrRoutingConfig != nil, "MultiValueAnswer": x.MultiValueAnswer != nil,
			"HealthCheckId": x.HealthCheckID != nil, "TrafficPolicyInstanceId": x.TrafficPolicyInstanceID != nil,
		} {
			if present {
				cr.routing = append(cr.routing, name)
			}
		}
		sort.Strings(cr.routing)
		changes = append(changes, cr)
	}
	if e := s.st.applyBatch(z, changes); e != nil {
		return response{}, e
	}
	c := &change{ID: newID("C"), ZoneID: z.id, Submitted: s.opts.Now(), Comment: req.ChangeBatch.Comment}
	s.st.changes[c.ID] = c
	z.lastChange = c.ID
	return xmlResponse(http.StatusOK, xChangeResponse{Xmlns: xmlns, ChangeInfo: s.changeInfo(c, true)}), nil
}

type xGetChangeResponse struct {
	XMLName    xml.Name    `xml:"GetChangeResponse"`
	Xmlns      string      `xml:"xmlns,attr"`
	ChangeInfo xChangeInfo `xml:"ChangeInfo"`
}

func (s *Server) getChange(id string) (response, *apiError) {
	c := s.st.changes[id]
	if c == nil {
		return response{}, &apiError{status: 404, code: "NoSuchChange", message: "A change with the specified change ID does not exist."}
	}
	return xmlResponse(http.StatusOK, xGetChangeResponse{Xmlns: xmlns, ChangeInfo: s.changeInfo(c, false)}), nil
}
