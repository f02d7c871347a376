package awsemu

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// createImage makes an AMI of its own for the test, from an instance of
// oldAMI, so that deregistering it cannot disturb other tests.
func (c clients) createImage(t *testing.T) string {
	t.Helper()
	ctx := ctxFor(t)
	run, err := c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(oldAMI), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
	})
	if err != nil || len(run.Instances) != 1 {
		t.Fatalf("RunInstances: %v", err)
	}
	instance := aws.ToString(run.Instances[0].InstanceId)
	out, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(instance), Name: aws.String(uniqueName(t))})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	if _, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{instance}}); err != nil {
		t.Fatalf("TerminateInstances: %v", err)
	}
	return aws.ToString(out.ImageId)
}

// describeImages returns the images by id.
func (c clients) describeImages(t *testing.T, ids ...string) map[string]ec2types.Image {
	t.Helper()
	out, err := c.ec2.DescribeImages(ctxFor(t), &ec2.DescribeImagesInput{ImageIds: ids})
	if err != nil {
		t.Fatalf("DescribeImages(%v): %v", ids, err)
	}
	images := map[string]ec2types.Image{}
	for _, img := range out.Images {
		images[aws.ToString(img.ImageId)] = img
	}
	return images
}

// AWS: while deregistration protection is enabled, DeregisterImage fails and
// DescribeImages reports the protection; once it is disabled, the image can
// be deregistered.
func TestImageDeregistrationProtection(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	ami := c.createImage(t)

	en, err := c.ec2.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(ami)})
	if err != nil {
		t.Fatalf("EnableImageDeregistrationProtection: %v", err)
	}
	if got := aws.ToString(en.Return); got != "enabled" {
		t.Errorf("EnableImageDeregistrationProtection returned %q, want enabled", got)
	}
	images := c.describeImages(t, ami, oldAMI)
	if got := aws.ToString(images[ami].DeregistrationProtection); got != "enabled" {
		t.Errorf("DescribeImages: DeregistrationProtection %q, want enabled", got)
	}
	if p := images[oldAMI].DeregistrationProtection; p != nil {
		t.Errorf("DescribeImages: unprotected %s reports DeregistrationProtection %q", oldAMI, *p)
	}

	_, err = c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(ami)})
	if apiCode(err) != "InvalidParameterValue" {
		t.Fatalf("DeregisterImage of a protected image: got %v, want InvalidParameterValue", err)
	}
	if _, ok := c.describeImages(t, ami)[ami]; !ok {
		t.Fatalf("the protected image %s is gone after a refused DeregisterImage", ami)
	}

	// With a cooldown: the state says so, and deregistration is refused too.
	en, err = c.ec2.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(ami), WithCooldown: aws.Bool(true)})
	if err != nil {
		t.Fatalf("EnableImageDeregistrationProtection WithCooldown: %v", err)
	}
	if got := aws.ToString(en.Return); got != "enabled-with-cooldown" {
		t.Errorf("EnableImageDeregistrationProtection WithCooldown returned %q, want enabled-with-cooldown", got)
	}
	if got := aws.ToString(c.describeImages(t, ami)[ami].DeregistrationProtection); got != "enabled-with-cooldown" {
		t.Errorf("DescribeImages: DeregistrationProtection %q, want enabled-with-cooldown", got)
	}
	if _, err := c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(ami)}); apiCode(err) != "InvalidParameterValue" {
		t.Fatalf("DeregisterImage of a protected image: got %v, want InvalidParameterValue", err)
	}

	// A dry run changes nothing.
	_, err = c.ec2.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: aws.String(ami), DryRun: aws.Bool(true)})
	if apiCode(err) != "DryRunOperation" {
		t.Errorf("DisableImageDeregistrationProtection DryRun: got %v, want DryRunOperation", err)
	}
	if got := aws.ToString(c.describeImages(t, ami)[ami].DeregistrationProtection); got != "enabled-with-cooldown" {
		t.Errorf("after a dry run: DeregistrationProtection %q, want enabled-with-cooldown", got)
	}

	dis, err := c.ec2.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: aws.String(ami)})
	if err != nil {
		t.Fatalf("DisableImageDeregistrationProtection: %v", err)
	}
	if got := aws.ToString(dis.Return); got != "disabled" {
		t.Errorf("DisableImageDeregistrationProtection returned %q, want disabled", got)
	}
	if got := aws.ToString(c.describeImages(t, ami)[ami].DeregistrationProtection); got != "disabled" {
		t.Errorf("DescribeImages after disable: DeregistrationProtection %q, want disabled", got)
	}
	if _, err := c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(ami)}); err != nil {
		t.Fatalf("DeregisterImage after disabling protection: %v", err)
	}
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err == nil && len(out.Images) > 0 {
		t.Errorf("image %s still described after DeregisterImage", ami)
	}

	// The deregistered image cannot be protected any more.
	_, err = c.ec2.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(ami)})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("EnableImageDeregistrationProtection of a deregistered image: got %v, want InvalidAMIID.NotFound", err)
	}
}

// AWS: protection can only be changed for an image that exists.
func TestImageDeregistrationProtectionUnknownImage(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	const unknown = "ami-0123456789abcdef0"
	_, err := c.ec2.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(unknown)})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("EnableImageDeregistrationProtection(%s): got %v, want InvalidAMIID.NotFound", unknown, err)
	}
	_, err = c.ec2.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: aws.String(unknown)})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("DisableImageDeregistrationProtection(%s): got %v, want InvalidAMIID.NotFound", unknown, err)
	}
	// Images that exist only in another region are unknown too.
	ami := c.createImage(t)
	west := newClients(s.URL(), 0)
	west.ec2 = ec2.New(west.ec2.Options(), func(o *ec2.Options) { o.Region = "us-west-2" })
	_, err = west.ec2.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(ami)})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("EnableImageDeregistrationProtection(%s) in us-west-2: got %v, want InvalidAMIID.NotFound", ami, err)
	}
	if p := c.describeImages(t, ami)[ami].DeregistrationProtection; p != nil {
		t.Errorf("image %s reports DeregistrationProtection %q after a failed enable", ami, *p)
	}
}

func TestAddDeregistrationProtection(t *testing.T) {
	body := `<?xml version="1.0" encoding="utf-8"?>
<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><imagesSet>` +
		`<item><blockDeviceMapping><item><deviceName>/dev/sda1</deviceName></item></blockDeviceMapping><imageId>ami-1</imageId><name>a &amp; b</name></item>` +
		`<item><imageId>ami-2</imageId></item>` +
		`<item><deregistrationProtection>disabled</deregistrationProtection><imageId>ami-3</imageId></item>` +
		`<item><deregistrationProtection/><imageId>ami-4</imageId></item>` +
		`</imagesSet><requestId>r</requestId></DescribeImagesResponse>`
	states := map[string]string{"ami-1": "enabled", "ami-3": "enabled-with-cooldown", "ami-4": "disabled", "ami-9": "enabled"}
	got := string(addDeregistrationProtection([]byte(body), func(id string) (string, bool) {
		v, ok := states[id]
		return v, ok
	}))
	want := `<?xml version="1.0" encoding="utf-8"?>
<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><imagesSet>` +
		`<item><blockDeviceMapping><item><deviceName>/dev/sda1</deviceName></item></blockDeviceMapping><imageId>ami-1</imageId><name>a &amp; b</name><deregistrationProtection>enabled</deregistrationProtection></item>` +
		`<item><imageId>ami-2</imageId></item>` +
		`<item><imageId>ami-3</imageId><deregistrationProtection>enabled-with-cooldown</deregistrationProtection></item>` +
		`<item><imageId>ami-4</imageId><deregistrationProtection>disabled</deregistrationProtection></item>` +
		`</imagesSet><requestId>r</requestId></DescribeImagesResponse>`
	if got != want {
		t.Errorf("rewritten answer:\n got %s\nwant %s", got, want)
	}
	if out := addDeregistrationProtection([]byte("<a><b>"), func(string) (string, bool) { return "enabled", true }); string(out) != "<a><b>" {
		t.Errorf("an unparsable body was changed: %s", out)
	}
}
