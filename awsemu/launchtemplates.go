package awsemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// This file fixes CreateLaunchTemplateVersion, where moto ignores two things
// AWS guarantees: ClientToken idempotency, and SourceVersion inheritance
// (the new version keeps every setting of the source version that the
// request does not give).

// ltVersions remembers the answers to CreateLaunchTemplateVersion calls that
// carried a ClientToken.
type ltVersions struct {
	// mu serialises CreateLaunchTemplateVersion, so that two calls with the
	// same token cannot both create a version.
	mu     sync.Mutex
	tokens map[string]tokenEntry // by region and token
	// userData is kept here rather than in moto (userdata.go).
	userData *userDataStore
}

// tokenEntry is the first answer given for a client token.
type tokenEntry struct {
	fingerprint string // the request's parameters, ClientToken aside
	answer      *capturedResponse
}

func newLTVersions() *ltVersions {
	return &ltVersions{tokens: map[string]tokenEntry{}, userData: newUserDataStore()}
}

// capturedResponse is a complete answer from moto, held so that it can be
// replayed or dropped.
type capturedResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func (c *capturedResponse) write(w http.ResponseWriter) {
	for k, v := range c.Header {
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Connection") {
			continue
		}
		w.Header()[k] = v
	}
	if w.Header().Get("X-Amz-Crc32") != "" {
		// The body may have been corrected: keep the checksum true to it.
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(c.Body)), 10))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(c.Body)))
	w.WriteHeader(c.Status)
	_, _ = w.Write(c.Body)
}

// forwardFunc sends the client's request to moto with the given body.
type forwardFunc func(body []byte) (*capturedResponse, error)

// createVersion handles CreateLaunchTemplateVersion.
func (l *ltVersions) createVersion(ctx context.Context, mc *motoClients, q *queryRequest, forward forwardFunc) (*capturedResponse, *apiError) {
	if isDryRun(q) {
		// A DryRun only checks permissions (doc.go): moto checks the
		// template and answers DryRunOperation, creating nothing. Neither
		// a token's earlier answer nor the token's record may come into it.
		return forwardAnswer(forward, q.Body)
	}
	token := q.Form.Get("ClientToken")
	key := q.Region + "\x00" + token
	fp := fingerprint(q.Form, "ClientToken")

	l.mu.Lock()
	defer l.mu.Unlock()
	if token != "" {
		if prev, ok := l.tokens[key]; ok {
			if prev.fingerprint != fp {
				return nil, senderError("IdempotentParameterMismatch", "The client token %s was already used for a request with different parameters.", token)
			}
			return prev.answer, nil // the first answer, no new version
		}
	}

	form := url.Values{}
	for k, v := range q.Form {
		form[k] = v
	}
	if src := q.Form.Get("SourceVersion"); src != "" {
		merged, aerr := inheritSourceVersion(ctx, mc, l.userData, q.Form, src)
		if aerr != nil {
			return nil, aerr
		}
		form = merged
	}
	userData, aerr := takeUserData(form)
	if aerr != nil {
		return nil, aerr
	}
	answer, err := forward([]byte(form.Encode()))
	if err != nil {
		return nil, toAPIError(err)
	}
	if userData != "" && answer.Status == http.StatusOK {
		id, version := versionOfAnswer(answer.Body)
		l.userData.put(q.Region, id, version, userData)
		answer.Body = l.userData.withUserData(q.Region, answer.Body)
	}
	if token != "" && answer.Status == http.StatusOK {
		l.tokens[key] = tokenEntry{fingerprint: fp, answer: answer}
	}
	return answer, nil
}

// fingerprint identifies a request by its parameters, its idempotency
// token (the parameter token: ClientToken, ClientRequestToken) aside.
func fingerprint(form url.Values, token string) string {
	f := url.Values{}
	for k, v := range form {
		if k != token {
			f[k] = v
		}
	}
	return f.Encode()
}

// inheritSourceVersion returns the request's parameters with the source
// version's launch template data added: every top-level field of
// LaunchTemplateData the request does not give is taken from the source
// version, as AWS does.
func inheritSourceVersion(ctx context.Context, mc *motoClients, kept *userDataStore, form url.Values, src string) (url.Values, *apiError) {
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{src}}
	what := ""
	switch {
	case form.Get("LaunchTemplateId") != "":
		in.LaunchTemplateId = aws.String(form.Get("LaunchTemplateId"))
		what = form.Get("LaunchTemplateId")
	case form.Get("LaunchTemplateName") != "":
		in.LaunchTemplateName = aws.String(form.Get("LaunchTemplateName"))
		what = form.Get("LaunchTemplateName")
	default:
		return nil, senderError("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId")
	}
	out, err := mc.ec2.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return nil, toAPIError(err)
	}
	if len(out.LaunchTemplateVersions) == 0 || out.LaunchTemplateVersions[0].LaunchTemplateData == nil {
		return nil, senderError("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s.", src, what)
	}
	source := out.LaunchTemplateVersions[0]
	if source.LaunchTemplateData.UserData == nil {
		if data, ok := kept.get(mc.region, aws.ToString(source.LaunchTemplateId), strconv.FormatInt(aws.ToInt64(source.VersionNumber), 10)); ok {
			source.LaunchTemplateData.UserData = aws.String(data)
		}
	}
	inherited, err := launchTemplateDataParams(source.LaunchTemplateData)
	if err != nil {
		return nil, toAPIError(fmt.Errorf("converting source version %s of %s: %w", src, what, err))
	}

	const prefix = "LaunchTemplateData."
	given := map[string]bool{}
	for k := range form {
		if strings.HasPrefix(k, prefix) {
			given[topField(k[len(prefix):])] = true
		}
	}
	merged := url.Values{}
	for k, v := range form {
		if k != "SourceVersion" {
			merged[k] = v
		}
	}
	for k, v := range inherited {
		if strings.HasPrefix(k, prefix) && !given[topField(k[len(prefix):])] {
			merged[k] = v
		}
	}
	return merged, nil
}

// topField returns the first segment of a parameter path
// ("SecurityGroupId.1" -> "SecurityGroupId").
func topField(path string) string {
	if i := strings.IndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return path
}

// launchTemplateDataParams turns a version's data, as DescribeLaunchTemplateVersions
// returns it, into the Query parameters that would create it again.
//
// The response and request shapes of launch template data are twins whose
// members share names, so a JSON round trip converts one into the other,
// and the SDK's own serializer then writes the Query parameters with EC2's
// wire names (SecurityGroupIds is sent as SecurityGroupId.N, and so on),
// which would be error-prone to reproduce by hand.
func launchTemplateDataParams(data *ec2types.ResponseLaunchTemplateData) (url.Values, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encoding launch template data: %w", err)
	}
	var req ec2types.RequestLaunchTemplateData
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("decoding launch template data: %w", err)
	}
	capture := &captureHTTPClient{}
	client := ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://capture.invalid"),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "capture", SecretAccessKey: "capture"}, nil
		}),
		HTTPClient: capture,
		Retryer:    aws.NopRetryer{},
	})
	_, err = client.CreateLaunchTemplateVersion(context.Background(), &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String("lt-capture"),
		LaunchTemplateData: &req,
	})
	if capture.body == nil {
		return nil, fmt.Errorf("serializing launch template data: %w", err)
	}
	return url.ParseQuery(string(capture.body))
}

// errCaptured ends a request that was only built to read its body.
var errCaptured = errors.New("request captured, not sent")

// captureHTTPClient records the body of the request the SDK builds instead
// of sending it.
type captureHTTPClient struct{ body []byte }

func (c *captureHTTPClient) Do(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	c.body = body
	return nil, errCaptured
}
