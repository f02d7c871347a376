package awsauth

import (
	"context"
	"log"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// DecodeAuthorizationMessageAPIClient is the STS call that
// decode_authorization_messages makes.
type DecodeAuthorizationMessageAPIClient interface {
	DecodeAuthorizationMessage(context.Context, *sts.DecodeAuthorizationMessageInput, ...func(*sts.Options)) (*sts.DecodeAuthorizationMessageOutput, error)
}

var _ DecodeAuthorizationMessageAPIClient = (*sts.Client)(nil)

// encodedAuthzMessage finds the encoded message in EC2's refusals ("You are
// not authorized to perform this operation. ... Encoded authorization
// failure message: <blob>").
var encodedAuthzMessage = regexp.MustCompile(`(?i)encoded authorization failure message: ([\w-]+)`)

// addAuthzDecoder returns a client option that, when a call fails with an
// encoded authorization failure message, decodes it with decoder and puts
// the decoded message in its place. It runs after the retryer, so once per
// call; a message that cannot be decoded is left as it was.
func addAuthzDecoder(decoder DecodeAuthorizationMessageAPIClient) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("DecodeAuthorizationMessage",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleFinalize(ctx, in)
				if err != nil {
					err = decodeAuthzError(ctx, decoder, err)
				}
				return out, md, err
			}), middleware.Before)
	}
}

// decodeAuthzError returns err with its encoded authorization failure
// message decoded, or err itself.
func decodeAuthzError(ctx context.Context, decoder DecodeAuthorizationMessageAPIClient, err error) error {
	m := encodedAuthzMessage.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	out, derr := decoder.DecodeAuthorizationMessage(ctx, &sts.DecodeAuthorizationMessageInput{EncodedMessage: aws.String(m[1])})
	if derr != nil {
		log.Printf("[WARN] decoding the authorization failure message: %v", derr)
		return err
	}
	return &decodedAuthzError{err: err, encoded: m[0], decoded: aws.ToString(out.DecodedMessage)}
}

// decodedAuthzError is an error whose encoded authorization failure message
// is shown decoded. It unwraps to the original error, so callers still find
// the API error and its code.
type decodedAuthzError struct {
	err              error
	encoded, decoded string
}

func (e *decodedAuthzError) Error() string {
	return strings.Replace(e.err.Error(), e.encoded, "decoded authorization failure message: "+e.decoded, 1)
}

func (e *decodedAuthzError) Unwrap() error { return e.err }
