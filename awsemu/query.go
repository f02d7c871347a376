package awsemu

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file holds the AWS Query protocol, which both Auto Scaling and EC2
// speak: form-encoded requests signed with SigV4, and XML answers.

const (
	asgNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
	ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

	serviceAutoScaling = "autoscaling"
	serviceEC2         = "ec2"
)

// credentialScope matches the credential of a SigV4 Authorization header:
// Credential=AKID/DATE/REGION/SERVICE/aws4_request.
var credentialScope = regexp.MustCompile(`Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request`)

// signedScope returns the access key, region and service of a request's
// SigV4 credential; ok is false when the request is not signed.
func signedScope(req *http.Request) (accessKey, region, service string, ok bool) {
	m := credentialScope.FindStringSubmatch(req.Header.Get("Authorization"))
	if m == nil {
		return "", "", "", false
	}
	return m[1], m[3], m[4], true
}

// queryRequest is what the emulator needs to know about one incoming request.
type queryRequest struct {
	Service   string // signing name from the credential scope, e.g. "autoscaling"
	Region    string
	AccessKey string // access key id; moto derives the account from it
	Action    string
	Form      url.Values // query string and form body together
	Body      []byte     // the raw body, forwarded unchanged when proxied
}

// parseQueryRequest reads and buffers the body of r (so that it can still be
// forwarded) and decodes the parts of the request the emulator routes on.
func parseQueryRequest(r *http.Request, body []byte) *queryRequest {
	q := &queryRequest{Body: body, Form: url.Values{}}
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		q.AccessKey, q.Region, q.Service = m[1], m[3], m[4]
	}
	for k, v := range r.URL.Query() {
		q.Form[k] = append(q.Form[k], v...)
	}
	if isFormBody(r) {
		if vals, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range vals {
				q.Form[k] = append(q.Form[k], v...)
			}
		}
	}
	q.Action = q.Form.Get("Action")
	if target := jsonTarget(r); target != "" && q.Action == "" {
		q.Action, q.Form = target, jsonParams(body) // JSON protocol (ssm.go)
	}
	return q
}

func isFormBody(r *http.Request) bool {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return false
	}
	ct := r.Header.Get("Content-Type")
	return ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded")
}

// params flattens the form to one value per key, as recorded in the call log.
func (q *queryRequest) params() map[string]string {
	out := make(map[string]string, len(q.Form))
	for k, v := range q.Form {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

// memberList returns the values of a query list parameter
// (prefix.member.1, prefix.member.2, ...), in index order.
func memberList(form url.Values, prefix string) []string {
	return flatList(form, prefix+".member")
}

// flatList returns the values of an EC2 flat list parameter (Prefix.1,
// Prefix.2, ...), in index order.
func flatList(form url.Values, prefix string) []string {
	type item struct {
		n int
		v string
	}
	var items []item
	p := prefix + "."
	for k, v := range form {
		if !strings.HasPrefix(k, p) || len(v) == 0 {
			continue
		}
		n, err := strconv.Atoi(k[len(p):])
		if err != nil {
			continue
		}
		items = append(items, item{n, v[0]})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].n < items[j].n })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// subValues returns the parameters below prefix (prefix "A." turns "A.B.C=x"
// into "B.C=x").
func subValues(form url.Values, prefix string) url.Values {
	out := url.Values{}
	for k, v := range form {
		if strings.HasPrefix(k, prefix) {
			out[k[len(prefix):]] = v
		}
	}
	return out
}

// newUUID returns a random (version 4) UUID, the format AWS uses for request,
// refresh and activity ids.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// awsTime formats a timestamp the way Query services do (ISO 8601, UTC,
// milliseconds), which the SDK's deserializers parse.
func awsTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// xmlNode is a minimal ordered XML tree: enough to write Query responses
// without reflection, and to echo request structures back (see paramTree).
type xmlNode struct {
	name  string
	text  string
	leaf  bool
	attrs [][2]string
	kids  []*xmlNode
}

// elem returns an element with the given children; nil children are
// skipped, which lets callers pass optional fields inline.
func elem(name string, kids ...*xmlNode) *xmlNode {
	n := &xmlNode{name: name}
	return n.add(kids...)
}

// leaf returns an element holding text.
func leaf(name, text string) *xmlNode { return &xmlNode{name: name, text: text, leaf: true} }

func leafInt(name string, v int64) *xmlNode { return leaf(name, strconv.FormatInt(v, 10)) }

func leafBool(name string, v bool) *xmlNode { return leaf(name, strconv.FormatBool(v)) }

func leafTime(name string, t time.Time) *xmlNode { return leaf(name, awsTime(t)) }

// optLeaf returns a text element, or nil (omitted) when text is empty.
func optLeaf(name, text string) *xmlNode {
	if text == "" {
		return nil
	}
	return leaf(name, text)
}

// optTime returns a timestamp element, or nil when t is zero.
func optTime(name string, t time.Time) *xmlNode {
	if t.IsZero() {
		return nil
	}
	return leafTime(name, t)
}

func (n *xmlNode) add(kids ...*xmlNode) *xmlNode {
	for _, k := range kids {
		if k != nil {
			n.kids = append(n.kids, k)
		}
	}
	return n
}

func (n *xmlNode) attr(name, value string) *xmlNode {
	n.attrs = append(n.attrs, [2]string{name, value})
	return n
}

func (n *xmlNode) String() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	n.write(&b)
	return b.String()
}

func (n *xmlNode) write(b *strings.Builder) {
	b.WriteByte('<')
	b.WriteString(n.name)
	for _, a := range n.attrs {
		fmt.Fprintf(b, ` %s="%s"`, a[0], xmlEscape(a[1]))
	}
	b.WriteByte('>')
	if n.leaf {
		b.WriteString(xmlEscape(n.text))
	}
	for _, k := range n.kids {
		k.write(b)
	}
	b.WriteString("</")
	b.WriteString(n.name)
	b.WriteByte('>')
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;", "\r", "&#xD;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }

// paramTree turns flattened Query parameters back into the structure they
// encode, named root. For Auto Scaling, request members and response elements
// share their names, and lists are "member" elements in both, so the tree of
// "DesiredConfiguration.MixedInstancesPolicy.LaunchTemplate.Overrides.member.1.InstanceType"
// is exactly the XML the SDK expects when the structure is echoed back. This
// keeps every field of a structure as large as MixedInstancesPolicy (with its
// InstanceRequirements) without modelling it.
func paramTree(root string, form url.Values) *xmlNode {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessParamKey(keys[i], keys[j]) })
	top := &paramNode{name: root}
	for _, k := range keys {
		if len(form[k]) == 0 {
			continue
		}
		n := top
		segs := strings.Split(k, ".")
		for i := 0; i < len(segs); i++ {
			name, key := segs[i], segs[i]
			if name == "member" && i+1 < len(segs) {
				key = "member." + segs[i+1] // one element per list index
				i++
			}
			n = n.child(name, key)
		}
		n.text, n.hasText = form[k][0], true
	}
	return top.xml()
}

// paramNode is one node of paramTree while it is built: children are found
// by key, which tells list entries (member.1, member.2) apart.
type paramNode struct {
	name, key string
	text      string
	hasText   bool
	kids      []*paramNode
}

func (n *paramNode) child(name, key string) *paramNode {
	for _, k := range n.kids {
		if k.key == key {
			return k
		}
	}
	k := &paramNode{name: name, key: key}
	n.kids = append(n.kids, k)
	return k
}

func (n *paramNode) xml() *xmlNode {
	if len(n.kids) == 0 {
		// An empty list or structure is sent as "Key=" and echoed empty.
		return leaf(n.name, n.text)
	}
	x := elem(n.name)
	for _, k := range n.kids {
		x.add(k.xml())
	}
	return x
}

// lessParamKey orders parameter keys segment by segment, numerically where
// both segments are numbers, so member.2 comes before member.10.
func lessParamKey(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		an, aerr := strconv.Atoi(as[i])
		bn, berr := strconv.Atoi(bs[i])
		if aerr == nil && berr == nil {
			return an < bn
		}
		return as[i] < bs[i]
	}
	return len(as) < len(bs)
}

// apiError is an error answered to the client in the service's error format.
type apiError struct {
	Status  int
	Code    string
	Message string
	Sender  bool // Type Sender (client fault) rather than Receiver
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func validationError(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "ValidationError", Message: fmt.Sprintf(format, args...), Sender: true}
}

func senderError(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...), Sender: true}
}

// writeASGResult writes a successful Auto Scaling answer:
// <ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>...
func writeASGResult(w http.ResponseWriter, action string, result *xmlNode) {
	writeQueryResult(w, asgNamespace, action, result)
}

// writeQueryResult writes a successful answer in the awsquery format
// (Auto Scaling, CloudFormation) of the service whose XML namespace is
// namespace.
func writeQueryResult(w http.ResponseWriter, namespace, action string, result *xmlNode) {
	reqID := newUUID()
	resp := elem(action+"Response").attr("xmlns", namespace)
	if result != nil {
		result.name = action + "Result"
		resp.add(result)
	}
	resp.add(elem("ResponseMetadata", leaf("RequestId", reqID)))
	writeXML(w, http.StatusOK, reqID, resp)
}

// writeASGError writes an error in the Auto Scaling (awsquery) format.
func writeASGError(w http.ResponseWriter, e *apiError) {
	writeQueryError(w, asgNamespace, e)
}

// writeQueryError writes an error in the awsquery format (Auto Scaling,
// CloudFormation, Elastic Load Balancing) of the service whose XML
// namespace is namespace.
func writeQueryError(w http.ResponseWriter, namespace string, e *apiError) {
	reqID := newUUID()
	typ := "Receiver"
	if e.Sender {
		typ = "Sender"
	}
	resp := elem("ErrorResponse",
		elem("Error", leaf("Type", typ), leaf("Code", e.Code), leaf("Message", e.Message)),
		leaf("RequestId", reqID)).attr("xmlns", namespace)
	writeXML(w, e.Status, reqID, resp)
}

// writeEC2Error writes an error in the EC2 (ec2query) format.
func writeEC2Error(w http.ResponseWriter, e *apiError) {
	reqID := newUUID()
	resp := elem("Response",
		elem("Errors", elem("Error", leaf("Code", e.Code), leaf("Message", e.Message))),
		leaf("RequestID", reqID))
	writeXML(w, e.Status, reqID, resp)
}

// writeServiceError answers e in the error format of service.
func writeServiceError(w http.ResponseWriter, service string, e *apiError) {
	if service == serviceSSM {
		writeSSMError(w, e)
		return
	}
	if service == serviceEC2 {
		writeEC2Error(w, e)
		return
	}
	writeASGError(w, e)
}

func writeXML(w http.ResponseWriter, status int, reqID string, n *xmlNode) {
	body := n.String()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
