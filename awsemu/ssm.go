package awsemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// This file adds what moto 5.2.1 lacks for Systems Manager parameters of
// data type aws:ec2:image. SSM speaks the JSON protocol (awsJson1_1): the
// action is in the X-Amz-Target header ("AmazonSSM.PutParameter"), the body
// and the answer are JSON, and errors are {"__type": CODE, "message": ...}.
//
// What moto does already, and is left to it: PutParameter with Overwrite
// creates a new version (ParameterAlreadyExists without it), versions are
// numbered from 1 and GetParameter and GetParameterHistory report them with
// their DataType; Tags are stored and ListTagsForResource reports them;
// Tags together with Overwrite are refused ("Invalid request: tags and
// overwrite can't be used together", as AWS answers); a DataType other than
// text or aws:ec2:image is refused. moto stores an aws:ec2:image value
// unchecked: its source says the AMI check "is not supported".
//
// What the emulator adds, for PutParameter with DataType aws:ec2:image:
//
//   - AWS: "When you create a String parameter and specify aws:ec2:image,
//     Amazon Web Services Systems Manager validates the parameter value is in
//     the required format, such as ami-12345abcdeEXAMPLE, and that the
//     specified AMI is available in your Amazon Web Services account." and
//     "If you submit an invalid AMI value, the PutParameter operation will
//     return success, but the asynchronous validation will fail and the
//     parameter will not be created or updated." So a value that is not an
//     AMI id, or names no AMI moto has in the region, is answered with
//     success (the version it would have had) and changes nothing. The
//     validation is done before the answer unless a delay is set: AWS
//     validates asynchronously, so a client must not take the answer as
//     proof, and must read the parameter back (GetParameter) to know.
//   - SetParameterValidationDelay makes the validation take time, as it
//     does in AWS: the answer comes at once with the version the write will
//     have, and GetParameter shows the write only after the delay.
//   - The errors AWS answers at once still come first: ParameterAlreadyExists
//     without Overwrite, and tags with Overwrite.
//   - AWS: "You can't change a parameter to or from either of these data
//     types" (aws:ec2:image, aws:ssm:integration): refused with
//     ValidationException, both ways, when the request gives a DataType.
//   - aws:ec2:image is for String parameters only (AWS: "When you create a
//     String parameter and specify aws:ec2:image"): another Type is refused.
//
// Not done: an overwrite that leaves DataType out is moto's (it stores the
// new version as text).

const (
	serviceSSM       = "ssm"
	ssmDataTypeImage = "aws:ec2:image"
	ssmDataTypeText  = "text"
)

// amiIDPattern is the form of an AMI id: "ami-" and 8 or 17 hexadecimal
// digits.
var amiIDPattern = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)

// ssmParams serializes the emulator's PutParameter checks, so that two
// writes of one parameter cannot interleave a check and a write, and holds
// the writes whose validation is delayed (SetParameterValidationDelay).
type ssmParams struct {
	mu      sync.Mutex
	delay   time.Duration    // emulated; 0 applies a write before answering
	pending map[string]int64 // queued writes by region and name
	queue   []delayedWrite   // in the order they were accepted
	wake    chan struct{}    // signals the worker that the queue grew
	ctx     context.Context  // ends the worker at Close
	stop    context.CancelFunc
	clock   *clock
	logf    func(string, ...any)
	started bool
}

// delayedWrite is an accepted aws:ec2:image write waiting for its
// validation to end.
type delayedWrite struct {
	key     string
	due     time.Time
	body    []byte
	forward forwardFunc
}

func pendingKey(region, name string) string {
	if region == "" {
		region = "us-east-1"
	}
	return region + "\x00" + name
}

// setDelay sets how long (emulated) an aws:ec2:image write takes to be
// validated and applied.
func (p *ssmParams) setDelay(c *clock, logf func(string, ...any), d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay, p.clock, p.logf = d, c, logf
}

// enqueue queues a valid write; p.mu is held.
func (p *ssmParams) enqueue(w delayedWrite) {
	if !p.started {
		p.started = true
		p.pending = map[string]int64{}
		p.wake = make(chan struct{}, 1)
		p.ctx, p.stop = context.WithCancel(context.Background())
		go p.work()
	}
	p.pending[w.key]++
	p.queue = append(p.queue, w)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// work applies the queued writes in order, each once its time has come.
func (p *ssmParams) work() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.mu.Unlock()
			select {
			case <-p.ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		w := p.queue[0]
		c := p.clock
		p.mu.Unlock()
		if !c.SleepUntil(p.ctx, w.due, nil) {
			return
		}
		// Applied under the lock, so that a PutParameter never sees the
		// write both in moto and still queued.
		p.mu.Lock()
		answer, err := w.forward(w.body)
		p.queue = p.queue[1:]
		p.pending[w.key]--
		logf := p.logf
		p.mu.Unlock()
		if logf != nil && (err != nil || answer.Status != http.StatusOK) {
			logf("applying a delayed PutParameter: %v %v", err, answer)
		}
	}
}

// close stops the worker; writes still queued are dropped.
func (p *ssmParams) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		p.stop()
	}
}

// putParameterInput is the part of a PutParameter request the emulator reads.
type putParameterInput struct {
	Name      string
	Value     *string
	Type      string
	DataType  *string
	Overwrite bool
	Tags      []json.RawMessage
	Tier      string
}

// jsonTarget returns the action of a JSON-protocol request from its
// X-Amz-Target header ("AmazonSSM.PutParameter" -> "PutParameter").
func jsonTarget(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return t
}

// jsonParams returns the top-level scalar members of a JSON request body as
// parameters, for the call log.
func jsonParams(body []byte) url.Values {
	out := url.Values{}
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return out
	}
	for k, v := range doc {
		switch x := v.(type) {
		case string:
			out.Set(k, x)
		case bool:
			out.Set(k, strconv.FormatBool(x))
		case float64:
			out.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
		}
	}
	return out
}

// putParameter handles PutParameter: requests of another data type go to
// moto as they are.
func (p *ssmParams) putParameter(ctx context.Context, mc *motoClients, q *queryRequest, forward, later forwardFunc) (*capturedResponse, *apiError) {
	var in putParameterInput
	if err := json.Unmarshal(q.Body, &in); err != nil || in.Name == "" {
		return forwardAnswer(forward, q.Body) // moto's own checks
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	prev, err := mc.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(in.Name)})
	var notFound *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &notFound):
		prev = nil
	case err != nil:
		return nil, toAPIError(err)
	}
	prevType := ""
	if prev != nil && prev.Parameter != nil {
		prevType = aws.ToString(prev.Parameter.DataType)
	}
	if in.DataType != nil && prev != nil && prevType != *in.DataType && (isFixedDataType(prevType) || isFixedDataType(*in.DataType)) {
		return nil, ssmError("ValidationException", "Parameter %s has data type %s; you can't change a parameter to or from data type %s. Delete it and create it again, or use another name.", in.Name, prevType, fixedOf(prevType, *in.DataType))
	}
	if in.DataType == nil || *in.DataType != ssmDataTypeImage {
		return forwardAnswer(forward, q.Body)
	}
	typ := in.Type
	if typ == "" && prev != nil && prev.Parameter != nil {
		typ = string(prev.Parameter.Type)
	}
	if typ != "" && typ != string(ssmtypes.ParameterTypeString) {
		return nil, ssmError("ValidationException", "Data type aws:ec2:image is supported for parameters of type String only, not %s.", typ)
	}
	value := aws.ToString(in.Value)
	key := pendingKey(q.Region, in.Name)
	queued := p.pending[key]
	valid := value == "" || (amiIDPattern.MatchString(value) && imageExists(ctx, mc, value) == nil)
	if !valid || (p.delay > 0 && value != "") {
		// Accepted, and validated later: an invalid value changes nothing,
		// a valid one is applied once the delay has passed. The errors AWS
		// answers at once come first.
		if (prev != nil || queued > 0) && !in.Overwrite {
			return nil, ssmError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		if in.Overwrite && len(in.Tags) > 0 {
			return nil, ssmError("ValidationException", "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
		}
		version, tier := queued+1, in.Tier
		if prev != nil && prev.Parameter != nil {
			version += prev.Parameter.Version
		}
		if valid {
			p.enqueue(delayedWrite{key: key, due: p.clock.Now().Add(p.delay), body: q.Body, forward: later})
		}
		if tier == "" {
			tier = string(ssmtypes.ParameterTierStandard)
		}
		body, _ := json.Marshal(map[string]any{"Version": version, "Tier": tier})
		return &capturedResponse{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}}, Body: body}, nil
	}
	return forwardAnswer(forward, q.Body)
}

func isFixedDataType(t string) bool { return t == ssmDataTypeImage || t == "aws:ssm:integration" }

func fixedOf(a, b string) string {
	if isFixedDataType(a) {
		return a
	}
	return b
}

func ssmError(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...), Sender: true}
}

// writeSSMError writes an error in the JSON protocol's format.
func writeSSMError(w http.ResponseWriter, e *apiError) {
	code := e.Code
	if code == "Throttling" {
		code = "ThrottlingException" // SSM's name for it
	}
	body, _ := json.Marshal(map[string]string{"__type": code, "message": e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("x-amzn-RequestId", newUUID())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// servePutParameter answers PutParameter (see putParameter).
func (s *Server) servePutParameter(w http.ResponseWriter, r *http.Request, q *queryRequest) {
	mc := s.api.clientsFor(q.Region, q.AccessKey)
	detached := r.Clone(context.Background()) // for a write applied after the answer
	answer, aerr := s.ssm.putParameter(r.Context(), mc, q,
		func(body []byte) (*capturedResponse, error) { return s.forward(r, body) },
		func(body []byte) (*capturedResponse, error) { return s.forward(detached, body) })
	if aerr != nil {
		writeSSMError(w, aerr)
		return
	}
	answer.write(w)
}

// SetParameterValidationDelay makes Systems Manager take d of emulated time
// to validate and apply each PutParameter of data type aws:ec2:image, as
// AWS does asynchronously: the answer (with the version the write will
// have) comes at once, GetParameter shows the write only later. 0, the
// default, applies a valid write before answering.
func (s *Server) SetParameterValidationDelay(d time.Duration) {
	s.ssm.setDelay(s.clock, s.opts.Logf, d)
}
