package awsemu

import (
	"context"
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// This file adds DescribeImageReferences (EC2, 2025), which moto 5.2.1 lacks:
// "Describes your Amazon Web Services resources that are referencing the
// specified images." It looks at what the emulator can see in moto:
//
//   - ec2:Instance: instances launched from the image, in the states the
//     state-name option names ("Default: All states").
//   - ec2:LaunchTemplate: templates whose newest versions (the version-depth
//     option: "The number of launch template versions to check, starting from
//     the most recent version", "Default: 10", "Integers between 1 and
//     10000") have the image as ImageId; deleted versions do not count. A
//     template is reported once, with its ARN, however many of its versions
//     name the image.
//   - ssm:Parameter: parameters of data type aws:ec2:image whose value is
//     the image.
//   - imagebuilder:ImageRecipe and imagebuilder:ContainerRecipe are accepted
//     and find nothing (the emulator has no Image Builder).
//
// Like AWS, it does not see what is not one of these resources: a group's
// mixed instances override ImageId, or a launch configuration.
//
// Request rules from the API reference: ImageId.N is required, "Minimum
// number of 1 item. Maximum number of 10 items."; "Either
// IncludeAllResourceTypes or ResourceTypes must be specified."; with
// IncludeAllResourceTypes "default values are applied for
// ResourceTypeOptions ... If you also specify ResourceTypes with
// ResourceTypeOptions, your specified values override the default values."
// ResourceTypeOptions are "Valid only when ResourceType is ec2:Instance or
// ec2:LaunchTemplate." Image ids are checked for their form (ami-...), not
// for existence, so that a deregistered image's references can be looked up.

const maxImageReferenceIDs = 10

// imageReferenceTypes are the resource types DescribeImageReferences checks,
// in the order answers list them.
var imageReferenceTypes = []string{"ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter", "imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe"}

// imageReferenceStates are the valid values of the state-name option.
var imageReferenceStates = map[string]bool{"pending": true, "running": true, "shutting-down": true, "terminated": true, "stopping": true, "stopped": true}

// imageReferenceQuery is a parsed DescribeImageReferences request.
type imageReferenceQuery struct {
	images       []string
	types        map[string]bool
	states       []string // empty: all states
	versionDepth int
}

func parseImageReferenceQuery(q *queryRequest) (*imageReferenceQuery, *apiError) {
	r := &imageReferenceQuery{images: flatList(q.Form, "ImageId"), types: map[string]bool{}, versionDepth: 10}
	switch {
	case len(r.images) == 0:
		return nil, senderError("MissingParameter", "The request must contain the parameter ImageId")
	case len(r.images) > maxImageReferenceIDs:
		return nil, senderError("InvalidParameterValue", "The request names %d images; DescribeImageReferences takes at most %d.", len(r.images), maxImageReferenceIDs)
	}
	for _, id := range r.images {
		if !strings.HasPrefix(id, "ami-") || len(id) <= len("ami-") {
			return nil, senderError("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
	}
	all := strings.EqualFold(q.Form.Get("IncludeAllResourceTypes"), "true")
	if all {
		for _, t := range imageReferenceTypes {
			r.types[t] = true
		}
	}
	given := false
	for i := 1; ; i++ {
		p := "ResourceType." + strconv.Itoa(i) + "."
		sub := subValues(q.Form, p)
		if len(sub) == 0 {
			break
		}
		given = true
		typ := sub.Get("ResourceType")
		known := false
		for _, t := range imageReferenceTypes {
			known = known || t == typ
		}
		if !known {
			return nil, senderError("InvalidParameterValue", "The resource type %q is not supported; use one of %s.", typ, strings.Join(imageReferenceTypes, ", "))
		}
		r.types[typ] = true
		for j := 1; ; j++ {
			op := "ResourceTypeOption." + strconv.Itoa(j) + "."
			opt := subValues(sub, op)
			if len(opt) == 0 {
				break
			}
			name, values := opt.Get("OptionName"), flatList(opt, "OptionValue")
			switch {
			case typ == "ec2:Instance" && name == "state-name":
				for _, v := range values {
					if !imageReferenceStates[v] {
						return nil, senderError("InvalidParameterValue", "The state-name value %q is not valid; use pending, running, shutting-down, terminated, stopping or stopped.", v)
					}
				}
				r.states = values
			case typ == "ec2:LaunchTemplate" && name == "version-depth":
				n := 0
				if len(values) == 1 {
					n, _ = strconv.Atoi(values[0])
				}
				if n < 1 || n > 10000 {
					return nil, senderError("InvalidParameterValue", "The version-depth value %q is not valid; use one integer between 1 and 10000.", strings.Join(values, ","))
				}
				r.versionDepth = n
			default:
				return nil, senderError("InvalidParameterValue", "The option %q is not valid for resource type %s.", name, typ)
			}
		}
	}
	if !all && !given {
		return nil, senderError("MissingParameter", "Either IncludeAllResourceTypes or ResourceTypes must be specified.")
	}
	return r, nil
}

// imageRef is one reference found.
type imageRef struct{ image, typ, arn string }

// describeImageReferences handles DescribeImageReferences.
func (s *Server) describeImageReferences(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	r, aerr := parseImageReferenceQuery(q)
	if aerr != nil {
		return nil, aerr
	}
	offset, limit := 0, 0
	if v := q.Form.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, senderError("InvalidParameterValue", "MaxResults must be a positive integer, not %q.", v)
		}
		limit = n
	}
	if v := q.Form.Get("NextToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, senderError("InvalidParameterValue", "The NextToken %q is not valid.", v)
		}
		offset = n
	}
	if isDryRun(q) {
		return nil, dryRunError()
	}
	refs, err := s.findImageReferences(ctx, mc, q.Region, r)
	if err != nil {
		return nil, toAPIError(err)
	}
	set := elem("imageReferenceSet")
	end := len(refs)
	if limit > 0 && offset+limit < end {
		end = offset + limit
	}
	for i := offset; i < end; i++ {
		set.add(elem("item", leaf("arn", refs[i].arn), leaf("imageId", refs[i].image), leaf("resourceType", refs[i].typ)))
	}
	out := elem("", set)
	if end < len(refs) {
		out.add(leaf("nextToken", strconv.Itoa(end)))
	}
	return out, nil
}

// findImageReferences lists the references to the query's images, image by
// image, in the order of imageReferenceTypes.
func (s *Server) findImageReferences(ctx context.Context, mc *motoClients, region string, r *imageReferenceQuery) ([]imageRef, error) {
	if region == "" {
		region = "us-east-1"
	}
	account, err := mc.account(ctx)
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, id := range r.images {
		wanted[id] = true
	}
	found := map[string]map[string][]string{} // image -> type -> ARNs
	add := func(image, typ, arn string) {
		if found[image] == nil {
			found[image] = map[string][]string{}
		}
		found[image][typ] = append(found[image][typ], arn)
	}

	if r.types["ec2:Instance"] {
		in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("image-id"), Values: r.images}}}
		if len(r.states) > 0 {
			in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("instance-state-name"), Values: r.states})
		}
		p := ec2.NewDescribeInstancesPaginator(mc.ec2, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, res := range out.Reservations {
				for _, inst := range res.Instances {
					if img := aws.ToString(inst.ImageId); wanted[img] {
						add(img, "ec2:Instance", "arn:aws:ec2:"+region+":"+account+":instance/"+aws.ToString(inst.InstanceId))
					}
				}
			}
		}
	}

	if r.types["ec2:LaunchTemplate"] {
		// moto answers at most 15 templates unless asked for more, and has
		// no NextToken.
		out, err := mc.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{MaxResults: aws.Int32(1 << 30)})
		if err != nil {
			return nil, err
		}
		for _, t := range out.LaunchTemplates {
			id := aws.ToString(t.LaunchTemplateId)
			vs, err := mc.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: t.LaunchTemplateId, MaxResults: aws.Int32(1 << 30)})
			if err != nil && toAPIError(err).Code == "InvalidLaunchTemplateId.NotFound" {
				// Deleted between the two calls (another client's
				// DeleteLaunchTemplate): a template that no longer exists
				// references nothing.
				continue
			}
			if err != nil {
				return nil, err
			}
			var kept []ec2types.LaunchTemplateVersion
			for _, v := range vs.LaunchTemplateVersions {
				if !s.ltDel.isDeleted(region, id, aws.ToInt64(v.VersionNumber)) {
					kept = append(kept, v)
				}
			}
			// The newest versions first.
			for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
				kept[i], kept[j] = kept[j], kept[i]
			}
			if len(kept) > r.versionDepth {
				kept = kept[:r.versionDepth]
			}
			seen := map[string]bool{}
			for _, v := range kept {
				if v.LaunchTemplateData == nil {
					continue
				}
				img := aws.ToString(v.LaunchTemplateData.ImageId)
				if wanted[img] && !seen[img] {
					seen[img] = true
					add(img, "ec2:LaunchTemplate", "arn:aws:ec2:"+region+":"+account+":launch-template/"+id)
				}
			}
		}
	}

	if r.types["ssm:Parameter"] {
		var names []string
		p := ssm.NewDescribeParametersPaginator(mc.ssm, &ssm.DescribeParametersInput{})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, m := range out.Parameters {
				if aws.ToString(m.DataType) == ssmDataTypeImage && m.Type == ssmtypes.ParameterTypeString {
					names = append(names, aws.ToString(m.Name))
				}
			}
		}
		for len(names) > 0 {
			batch := names
			if len(batch) > 10 {
				batch = batch[:10]
			}
			names = names[len(batch):]
			out, err := mc.ssm.GetParameters(ctx, &ssm.GetParametersInput{Names: batch})
			if err != nil {
				return nil, err
			}
			for _, prm := range out.Parameters {
				if img := aws.ToString(prm.Value); wanted[img] {
					add(img, "ssm:Parameter", ssmParameterARN(region, account, aws.ToString(prm.Name)))
				}
			}
		}
	}

	var refs []imageRef
	for _, img := range r.images {
		for _, typ := range imageReferenceTypes {
			for _, arn := range found[img][typ] {
				refs = append(refs, imageRef{image: img, typ: typ, arn: arn})
			}
		}
		delete(found, img) // an image named twice is answered once
	}
	return refs, nil
}

// ssmParameterARN is a parameter's ARN: "parameter/" then the name without
// its leading slash.
func ssmParameterARN(region, account, name string) string {
	return "arn:aws:ssm:" + region + ":" + account + ":parameter/" + strings.TrimPrefix(name, "/")
}

// account returns the caller's account id, as moto derives it.
func (c *motoClients) account(ctx context.Context) (string, error) {
	body, err := c.raw(ctx, "sts", map[string][]string{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	if err != nil {
		return "", err
	}
	var doc struct {
		Account string `xml:"GetCallerIdentityResult>Account"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil || doc.Account == "" {
		return "", &apiError{Status: 500, Code: "InternalFailure", Message: "reading moto's account id: " + string(body)}
	}
	return doc.Account, nil
}
