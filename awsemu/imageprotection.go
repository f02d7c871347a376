package awsemu

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// This file adds AMI deregistration protection, which moto 5.2.1 lacks
// (EnableImageDeregistrationProtection and DisableImageDeregistrationProtection
// answer HTTP 500 there, DescribeImages never reports the state, and
// DeregisterImage always succeeds):
//
//   - EnableImageDeregistrationProtection (ImageId, optional WithCooldown)
//     and DisableImageDeregistrationProtection (ImageId) are answered here,
//     for images moto has in the caller's region; the state is kept by
//     region and image.
//   - DescribeImages answers are moto's, byte for byte, with a
//     deregistrationProtection element added to each image whose state the
//     emulator keeps.
//   - DeregisterImage of a protected image is refused without reaching moto.
//
// The 24-hour cooldown is not enforced: an image whose protection was
// enabled with a cooldown can be deregistered as soon as protection is
// disabled.

// The values of an image's DeregistrationProtection, as EC2 reports them.
const (
	protectionEnabled             = "enabled"
	protectionEnabledWithCooldown = "enabled-with-cooldown"
	protectionDisabled            = "disabled"
)

// imageProtection keeps the deregistration protection of AMIs.
type imageProtection struct {
	// op serialises the changes of protection with the deregistrations it
	// guards, so that an image cannot be protected while it is being
	// deregistered, nor deregistered while it is being protected.
	op sync.Mutex

	mu    sync.Mutex
	state map[string]string // by region and image id
}

func newImageProtection() *imageProtection {
	return &imageProtection{state: map[string]string{}}
}

func protectionKey(region, imageID string) string {
	if region == "" {
		region = "us-east-1" // as motoAPI.clientsFor
	}
	return region + "\x00" + imageID
}

// lookup returns the protection state of an image, if the emulator keeps one.
func (p *imageProtection) lookup(region, imageID string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.state[protectionKey(region, imageID)]
	return v, ok
}

func (p *imageProtection) set(region, imageID, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[protectionKey(region, imageID)] = value
}

func (p *imageProtection) forget(region, imageID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.state, protectionKey(region, imageID))
}

func (p *imageProtection) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.state) == 0
}

// protected reports whether the image may not be deregistered.
func protected(state string) bool {
	return state == protectionEnabled || state == protectionEnabledWithCooldown
}

// enable handles EnableImageDeregistrationProtection and answers the new
// state ("enabled" or "enabled-with-cooldown").
func (p *imageProtection) enable(ctx context.Context, mc *motoClients, q *queryRequest) (string, *apiError) {
	state := protectionEnabled
	if strings.EqualFold(q.Form.Get("WithCooldown"), "true") {
		state = protectionEnabledWithCooldown
	}
	return p.change(ctx, mc, q, state)
}

// disable handles DisableImageDeregistrationProtection and answers
// "disabled".
func (p *imageProtection) disable(ctx context.Context, mc *motoClients, q *queryRequest) (string, *apiError) {
	return p.change(ctx, mc, q, protectionDisabled)
}

// change sets the protection of the request's image, which must exist in
// moto in the request's region.
func (p *imageProtection) change(ctx context.Context, mc *motoClients, q *queryRequest, state string) (string, *apiError) {
	id := q.Form.Get("ImageId")
	if id == "" {
		return "", senderError("MissingParameter", "The request must contain the parameter ImageId")
	}
	p.op.Lock()
	defer p.op.Unlock()
	if aerr := imageExists(ctx, mc, id); aerr != nil {
		return "", aerr
	}
	if isDryRun(q) {
		return "", dryRunError()
	}
	p.set(q.Region, id, state)
	return state, nil
}

// deregister handles DeregisterImage: a protected image is refused, any
// other request goes to moto, and an image moto deregistered loses its
// protection state.
func (p *imageProtection) deregister(q *queryRequest, forward forwardFunc) (*capturedResponse, *apiError) {
	id := q.Form.Get("ImageId")
	if id == "" || isDryRun(q) {
		return forwardAnswer(forward, q.Body) // moto's own checks
	}
	p.op.Lock()
	defer p.op.Unlock()
	if state, _ := p.lookup(q.Region, id); protected(state) {
		return nil, senderError("InvalidParameterValue",
			"Deregistration protection is enabled for image %s. Disable it with DisableImageDeregistrationProtection before deregistering the image.", id)
	}
	answer, aerr := forwardAnswer(forward, q.Body)
	if aerr == nil && answer.Status == http.StatusOK {
		p.forget(q.Region, id)
	}
	return answer, aerr
}

func forwardAnswer(forward forwardFunc, body []byte) (*capturedResponse, *apiError) {
	answer, err := forward(body)
	if err != nil {
		return nil, toAPIError(err)
	}
	return answer, nil
}

// correctDescribeImages adds the protection state to a DescribeImages answer
// of the given region.
func (p *imageProtection) correctDescribeImages(region string, body []byte) []byte {
	if p.empty() {
		return body
	}
	return addDeregistrationProtection(body, func(imageID string) (string, bool) {
		return p.lookup(region, imageID)
	})
}

// imageExists checks that moto has the image for the caller in its region,
// answering InvalidAMIID.NotFound (moto's error, or the same one) if not.
func imageExists(ctx context.Context, mc *motoClients, id string) *apiError {
	out, err := mc.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil {
		return toAPIError(err)
	}
	for _, img := range out.Images {
		if aws.ToString(img.ImageId) == id {
			return nil
		}
	}
	return senderError("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
}

func isDryRun(q *queryRequest) bool { return strings.EqualFold(q.Form.Get("DryRun"), "true") }

func dryRunError() *apiError {
	return &apiError{Status: http.StatusPreconditionFailed, Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set.", Sender: true}
}

// writeEC2Result writes a successful EC2 answer:
// <ActionResponse xmlns="..."><requestId>...</requestId>fields...</ActionResponse>.
func writeEC2Result(w http.ResponseWriter, action string, fields ...*xmlNode) {
	reqID := newUUID()
	resp := elem(action+"Response", leaf("requestId", reqID)).attr("xmlns", ec2Namespace)
	resp.add(fields...)
	writeXML(w, http.StatusOK, reqID, resp)
}

// addDeregistrationProtection adds <deregistrationProtection>STATE</...>
// before the closing tag of each image (an item of imagesSet) whose state
// lookup knows, replacing any such element the answer already has.
// Everything else is kept byte for byte; a body that cannot be parsed is
// returned unchanged.
func addDeregistrationProtection(body []byte, lookup func(imageID string) (string, bool)) []byte {
	var (
		image    = -1 // depth of the image entry being read, -1 outside one
		id       string
		oldStart int64 = -1 // where an existing deregistrationProtection starts
		old      *splice
	)
	return rewriteXML(body, func(x xmlToken) []splice {
		n := len(x.path)
		switch t := x.tok.(type) {
		case xml.StartElement:
			if image < 0 && n >= 2 && x.path[n-1] == "item" && x.path[n-2] == "imagesSet" {
				image, id, old = n, "", nil
			}
			if image >= 0 && n == image+1 && t.Name.Local == "deregistrationProtection" {
				oldStart = x.start
			}
		case xml.CharData:
			if image >= 0 && n == image+1 && x.path[n-1] == "imageId" {
				id = string(bytes.TrimSpace(t))
			}
		case xml.EndElement:
			if image >= 0 && n == image+1 && t.Name.Local == "deregistrationProtection" && oldStart >= 0 {
				old = &splice{start: oldStart, end: x.end}
				oldStart = -1
			}
			if n == image {
				image = -1
				if state, ok := lookup(id); ok {
					var out []splice
					if old != nil {
						out = append(out, *old)
					}
					return append(out, splice{start: x.start, end: x.start,
						text: "<deregistrationProtection>" + xmlEscape(state) + "</deregistrationProtection>"})
				}
			}
		}
		return nil
	})
}
