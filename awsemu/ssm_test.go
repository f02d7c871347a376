package awsemu

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// history returns a parameter's values, oldest first.
func history(t *testing.T, sc *ssm.Client, name string) []string {
	t.Helper()
	var got []string
	p := ssm.NewGetParameterHistoryPaginator(sc, &ssm.GetParameterHistoryInput{Name: aws.String(name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctxFor(t))
		if err != nil {
			t.Fatalf("GetParameterHistory(%s): %v", name, err)
		}
		for _, v := range out.Parameters {
			got = append(got, aws.ToString(v.Value))
		}
	}
	return got
}

// AWS (PutParameter, DataType): "When you create a String parameter and
// specify aws:ec2:image, Amazon Web Services Systems Manager validates the
// parameter value is in the required format, such as ami-12345abcdeEXAMPLE,
// and that the specified AMI is available in your Amazon Web Services
// account." ... "If you submit an invalid AMI value, the PutParameter
// operation will return success, but the asynchronous validation will fail
// and the parameter will not be created or updated."
func TestPutParameterImageValidation(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	sc := newSSM(s.URL())
	ctx := ctxFor(t)
	name := "/" + uniqueName(t) + "/ami"
	first, second := c.createImage(t), c.createImage(t)
	put := func(value string, overwrite bool, tags ...ssmtypes.Tag) (*ssm.PutParameterOutput, error) {
		return sc.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString,
			DataType: aws.String(ssmDataTypeImage), Overwrite: aws.Bool(overwrite), Tags: tags,
		})
	}

	// Not created: a value that is not an AMI id, and one no AMI has.
	for _, bad := range []string{"web-latest", "ami-0123456789abcdef0"} {
		if _, err := put(bad, false); err != nil {
			t.Fatalf("PutParameter(%s): %v; want success (validation is asynchronous)", bad, err)
		}
		if _, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)}); apiCode(err) != "ParameterNotFound" {
			t.Fatalf("after PutParameter(%s): GetParameter %v, want ParameterNotFound", bad, err)
		}
	}

	out, err := put(first, false, ssmtypes.Tag{Key: aws.String("team"), Value: aws.String("web")})
	if err != nil || out.Version != 1 {
		t.Fatalf("PutParameter(%s): %+v, %v; want version 1", first, out, err)
	}
	got, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	if err != nil || aws.ToString(got.Parameter.Value) != first || aws.ToString(got.Parameter.DataType) != ssmDataTypeImage {
		t.Fatalf("GetParameter: %+v, %v; want %s of data type aws:ec2:image", got, err, first)
	}
	tags, err := sc.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(name)})
	if err != nil || len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Value) != "web" {
		t.Errorf("ListTagsForResource: %+v, %v; want team=web", tags, err)
	}

	// Synchronous errors come first, whatever the value.
	if _, err := put(second, false); apiCode(err) != "ParameterAlreadyExists" {
		t.Errorf("without Overwrite: %v, want ParameterAlreadyExists", err)
	}
	if _, err := put("ami-0123456789abcdef0", false); apiCode(err) != "ParameterAlreadyExists" {
		t.Errorf("without Overwrite, unknown AMI: %v, want ParameterAlreadyExists", err)
	}
	if _, err := put(second, true, ssmtypes.Tag{Key: aws.String("team"), Value: aws.String("web")}); apiCode(err) != "ValidationException" {
		t.Errorf("Overwrite with tags: %v, want ValidationException", err)
	}

	// An overwrite with an AMI that does not exist changes nothing.
	if _, err := put("ami-0123456789abcdef0", true); err != nil {
		t.Fatalf("Overwrite with an unknown AMI: %v; want success", err)
	}
	if out, err := put(second, true); err != nil || out.Version != 2 {
		t.Fatalf("Overwrite(%s): %+v, %v; want version 2", second, out, err)
	}
	if h := history(t, sc, name); len(h) != 2 || h[0] != first || h[1] != second {
		t.Errorf("GetParameterHistory: %q, want [%s %s]", h, first, second)
	}

	// Data types cannot change to or from aws:ec2:image; it is for String
	// parameters only.
	if _, err := sc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(second), Overwrite: aws.Bool(true), DataType: aws.String("text")}); apiCode(err) != "ValidationException" {
		t.Errorf("to text: %v, want ValidationException", err)
	}
	text := "/" + uniqueName(t) + "/text"
	if _, err := sc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(text), Value: aws.String(first), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatalf("PutParameter(text): %v", err)
	}
	if _, err := sc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(text), Value: aws.String(second), Overwrite: aws.Bool(true), DataType: aws.String(ssmDataTypeImage)}); apiCode(err) != "ValidationException" {
		t.Errorf("text to aws:ec2:image: %v, want ValidationException", err)
	}
	if _, err := sc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(text + "-list"), Value: aws.String(first), Type: ssmtypes.ParameterTypeStringList, DataType: aws.String(ssmDataTypeImage)}); apiCode(err) != "ValidationException" {
		t.Errorf("a StringList of data type aws:ec2:image: %v, want ValidationException", err)
	}
	if h := history(t, sc, name); len(h) != 2 {
		t.Errorf("after refused writes: %d versions, want 2", len(h))
	}
}

// AWS: "The aws:ec2:image value is validated asynchronously, and the
// PutParameter call returns before the validation is complete." With a
// validation delay, the answer names the version the write will have, and
// GetParameter shows it only once the delay has passed; writes apply in
// order, and an invalid one in between changes nothing.
func TestPutParameterValidationDelay(t *testing.T) {
	t.Parallel()
	s := ownServer(t, testSpeed)
	c := newClients(s.URL(), 0)
	sc := newSSM(s.URL())
	ctx := ctxFor(t)
	name := "/" + uniqueName(t) + "/ami"
	first, second := c.createImage(t), c.createImage(t)
	put := func(value string) int64 {
		t.Helper()
		out, err := sc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString, DataType: aws.String(ssmDataTypeImage), Overwrite: aws.Bool(true)})
		if err != nil {
			t.Fatalf("PutParameter(%s): %v", value, err)
		}
		return out.Version
	}
	if v := put(first); v != 1 {
		t.Fatalf("first write: version %d, want 1", v)
	}
	// An hour of validation: nothing shows while it runs.
	s.SetParameterValidationDelay(time.Hour)
	if v := put(second); v != 2 {
		t.Errorf("second write: version %d, want 2", v)
	}
	if v := put("ami-0123456789abcdef0"); v != 3 {
		t.Errorf("an invalid write: version %d, want 3 (what it would have had)", v)
	}
	if v := put(first); v != 3 {
		t.Errorf("third write: version %d, want 3 (the invalid one never counts)", v)
	}
	got, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	if err != nil || aws.ToString(got.Parameter.Value) != first || got.Parameter.Version != 1 {
		t.Fatalf("GetParameter during validation: %+v, %v; want version 1 still", got.Parameter, err)
	}
	// Ten minutes of validation from now on: the writes queued before
	// apply first, in order, once their hour is over.
	s.SetParameterValidationDelay(0)
	s.SetSpeed(testSpeed * 60) // an emulated hour in 0.1 s
	deadline := time.Now().Add(30 * time.Second)
	for {
		h := history(t, sc, name)
		if len(h) == 3 {
			if h[1] != second || h[2] != first {
				t.Errorf("history %q, want [%s %s %s]", h, first, second, first)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delayed writes were not applied: history %q", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
