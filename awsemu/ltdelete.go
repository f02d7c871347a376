package awsemu

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// This file adds DeleteLaunchTemplateVersions, which moto 5.2.1 lacks (the
// action answers HTTP 500 there, and moto numbers versions by their place in
// a list, so it cannot drop one). The emulator keeps the deleted version
// numbers of each template and hides them from every answer that lists
// versions:
//
//   - DeleteLaunchTemplateVersions validates the request and answers each
//     version in SuccessfullyDeletedLaunchTemplateVersions or in
//     UnsuccessfullyDeletedLaunchTemplateVersions with one of AWS's
//     LaunchTemplateErrorCode values.
//   - DescribeLaunchTemplateVersions leaves deleted versions out, refuses a
//     deleted version asked for by number, resolves $Latest to the newest
//     version left, and pages with MaxResults and NextToken (moto answers at
//     most 15 versions, without a NextToken).
//   - DescribeLaunchTemplates reports as LatestVersionNumber the newest
//     version left.
//   - ModifyLaunchTemplate refuses a deleted version as the default,
//     CreateLaunchTemplateVersion a deleted SourceVersion, RunInstances a
//     deleted LaunchTemplate.Version; their $Latest is the newest version
//     left.
//
// Not covered: Auto Scaling groups naming a deleted version (moto and the
// emulator's refreshes still launch from it), and $Latest in a
// DescribeLaunchTemplateVersions request that names no template.
//
// Version numbers are never reused, as in AWS: moto numbers a new version
// after every version it ever created.

// maxDeleteVersions is AWS's limit: "You can delete up to 200 launch template
// versions in a single request."
const maxDeleteVersions = 200

// maxDescribeVersions is the upper bound of DescribeLaunchTemplateVersions'
// MaxResults: "This value can be between 1 and 200."
const maxDescribeVersions = 200

// ltDeletions keeps the deleted versions of launch templates.
type ltDeletions struct {
	mu      sync.Mutex
	deleted map[string]map[int64]bool // by region and template id
}

func newLTDeletions() *ltDeletions {
	return &ltDeletions{deleted: map[string]map[int64]bool{}}
}

func ltKey(region, id string) string {
	if region == "" {
		region = "us-east-1"
	}
	return region + "\x00" + id
}

func (d *ltDeletions) isDeleted(region, id string, v int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deleted[ltKey(region, id)][v]
}

func (d *ltDeletions) any(region, id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.deleted[ltKey(region, id)]) > 0
}

// latestLeft returns the newest version of a template that is not deleted,
// given moto's latest version number.
func (d *ltDeletions) latestLeft(region, id string, latest int64) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	del := d.deleted[ltKey(region, id)]
	for v := latest; v > 0; v-- {
		if !del[v] {
			return v
		}
	}
	return latest
}

// templateInfo is what the emulator needs to know of a launch template.
type templateInfo struct {
	ID, Name        string
	Default, Latest int64
}

// lookupTemplate finds a template by id or name. found is false when moto
// does not have it.
func lookupTemplate(ctx context.Context, mc *motoClients, id, name string) (templateInfo, bool, *apiError) {
	in := &ec2.DescribeLaunchTemplatesInput{}
	if id != "" {
		in.LaunchTemplateIds = []string{id}
	} else {
		in.LaunchTemplateNames = []string{name}
	}
	out, err := mc.ec2.DescribeLaunchTemplates(ctx, in)
	if err != nil {
		aerr := toAPIError(err)
		if strings.Contains(aerr.Code, "NotFound") {
			return templateInfo{}, false, nil
		}
		return templateInfo{}, false, aerr
	}
	for _, t := range out.LaunchTemplates {
		if (id != "" && aws.ToString(t.LaunchTemplateId) == id) || (id == "" && aws.ToString(t.LaunchTemplateName) == name) {
			return templateInfo{
				ID: aws.ToString(t.LaunchTemplateId), Name: aws.ToString(t.LaunchTemplateName),
				Default: aws.ToInt64(t.DefaultVersionNumber), Latest: aws.ToInt64(t.LatestVersionNumber),
			}, true, nil
		}
	}
	return templateInfo{}, false, nil
}

var (
	// AWS: LaunchTemplateName "Length Constraints: Minimum length of 3.
	// Maximum length of 128. Pattern: [a-zA-Z0-9\(\)\.\-/_]+".
	ltNamePattern = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)
	ltIDPattern   = regexp.MustCompile(`^lt-[0-9a-f]+$`)
)

// deleteVersions handles DeleteLaunchTemplateVersions.
func (d *ltDeletions) deleteVersions(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	id, name := q.Form.Get("LaunchTemplateId"), q.Form.Get("LaunchTemplateName")
	versions := flatList(q.Form, "LaunchTemplateVersion")
	switch {
	case id != "" && name != "":
		return nil, senderError("InvalidParameterCombination", "Specify either the launch template ID or the launch template name, but not both.")
	case id == "" && name == "":
		return nil, senderError("MissingParameter", "The request must contain the parameter LaunchTemplateId or LaunchTemplateName")
	case len(versions) == 0:
		return nil, senderError("MissingParameter", "The request must contain the parameter LaunchTemplateVersion")
	case len(versions) > maxDeleteVersions:
		return nil, senderError("InvalidParameterValue", "You can delete up to %d launch template versions in a single request; this one names %d. To delete more, use DeleteLaunchTemplate.", maxDeleteVersions, len(versions))
	}

	for _, v := range versions {
		// The answer reports versions as numbers (Long).
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 1 {
			return nil, senderError("InvalidParameterValue", "The launch template version %q is not a version number.", v)
		}
	}

	var info templateInfo
	var failAll, failMsg string
	switch {
	case id != "" && !ltIDPattern.MatchString(id):
		failAll, failMsg = "launchTemplateIdMalformed", "The launch template ID '"+id+"' is malformed."
	case id == "" && !ltNamePattern.MatchString(name):
		failAll, failMsg = "launchTemplateNameMalformed", "The launch template name '"+name+"' is malformed."
	default:
		var found bool
		var aerr *apiError
		info, found, aerr = lookupTemplate(ctx, mc, id, name)
		if aerr != nil {
			return nil, aerr
		}
		if !found && id != "" {
			failAll, failMsg = "launchTemplateIdDoesNotExist", "The launch template ID '"+id+"' does not exist."
		} else if !found {
			failAll, failMsg = "launchTemplateNameDoesNotExist", "The launch template name '"+name+"' does not exist."
		}
	}
	if info.ID == "" {
		info.ID, info.Name = id, name
	}
	if isDryRun(q) {
		return nil, dryRunError()
	}

	ok := elem("successfullyDeletedLaunchTemplateVersionSet")
	bad := elem("unsuccessfullyDeletedLaunchTemplateVersionSet")
	fail := func(v, code, msg string) {
		bad.add(elem("item",
			optLeaf("launchTemplateId", info.ID), optLeaf("launchTemplateName", info.Name),
			leaf("versionNumber", v),
			elem("responseError", leaf("code", code), leaf("message", msg))))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, raw := range versions {
		if failAll != "" {
			fail(raw, failAll, failMsg)
			continue
		}
		v, _ := strconv.ParseInt(raw, 10, 64)
		k := ltKey(q.Region, info.ID)
		switch {
		case v > info.Latest || d.deleted[k][v]:
			fail(raw, "launchTemplateVersionDoesNotExist", "The specified launch template version "+raw+" does not exist.")
		case v == info.Default:
			// AWS: "You can't delete the default version of a launch
			// template; you must first assign a different version as the
			// default."
			fail(raw, "unexpectedError", "Cannot delete the default version "+raw+" of the launch template; first make another version the default.")
		default:
			if d.deleted[k] == nil {
				d.deleted[k] = map[int64]bool{}
			}
			d.deleted[k][v] = true
			ok.add(elem("item", leaf("launchTemplateId", info.ID), leaf("launchTemplateName", info.Name), leafInt("versionNumber", v)))
		}
	}
	return elem("", ok, bad), nil
}

// describeVersions handles DescribeLaunchTemplateVersions for one template:
// moto answers every version it has, and the emulator leaves out the deleted
// ones and pages the rest. Requests for all templates ($Latest or $Default
// without a template) go to moto as they are, with $Latest corrected.
func (d *ltDeletions) describeVersions(ctx context.Context, mc *motoClients, q *queryRequest, forward forwardFunc) (*capturedResponse, *apiError) {
	id, name := q.Form.Get("LaunchTemplateId"), q.Form.Get("LaunchTemplateName")
	if (id == "" && name == "") || isDryRun(q) {
		return forwardAnswer(forward, q.Body)
	}
	maxResults := 0
	if s := q.Form.Get("MaxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDescribeVersions {
			return nil, senderError("InvalidParameterValue", "MaxResults must be between 1 and %d, not %q.", maxDescribeVersions, s)
		}
		maxResults = n
	}
	offset := 0
	if s := q.Form.Get("NextToken"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, senderError("InvalidParameterValue", "The NextToken %q is not valid.", s)
		}
		offset = n
	}
	info, found, aerr := lookupTemplate(ctx, mc, id, name)
	if aerr != nil {
		return nil, aerr
	}
	form := url.Values{}
	for k, v := range q.Form {
		if k != "MaxResults" && k != "NextToken" {
			form[k] = v
		}
	}
	if found {
		for i, v := range flatList(q.Form, "LaunchTemplateVersion") {
			key := "LaunchTemplateVersion." + strconv.Itoa(i+1)
			if strings.EqualFold(v, "$Latest") {
				form.Set(key, strconv.FormatInt(d.latestLeft(q.Region, info.ID, info.Latest), 10))
				continue
			}
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && d.isDeleted(q.Region, info.ID, n) {
				return nil, senderError("InvalidLaunchTemplateId.VersionNotFound", "Could not find the specified version %s for the launch template with ID %s.", v, info.ID)
			}
		}
	}
	// Every version moto has, in one answer.
	form.Set("MaxResults", strconv.Itoa(1<<30))
	answer, aerr := forwardAnswer(forward, []byte(form.Encode()))
	if aerr != nil || answer.Status != http.StatusOK || !found {
		return answer, aerr
	}
	answer.Body = pageVersions(answer.Body, func(v int64) bool { return d.isDeleted(q.Region, info.ID, v) }, offset, maxResults)
	return answer, nil
}

// pageVersions keeps, of the versions in a DescribeLaunchTemplateVersions
// answer that are not deleted, those from offset on (at most limit, 0 for
// all), and adds a nextToken when more are left.
func pageVersions(body []byte, deleted func(int64) bool, offset, limit int) []byte {
	var (
		item          = -1 // depth of the version entry being read
		start         int64
		version       int64
		left, written int
	)
	return rewriteXML(body, func(x xmlToken) []splice {
		n := len(x.path)
		switch t := x.tok.(type) {
		case xml.StartElement:
			if item < 0 && n >= 2 && x.path[n-1] == "item" && x.path[n-2] == "launchTemplateVersionSet" {
				item, start, version = n, x.start, 0
			}
		case xml.CharData:
			if item >= 0 && n == item+1 && x.path[n-1] == "versionNumber" {
				version, _ = strconv.ParseInt(strings.TrimSpace(string(t)), 10, 64)
			}
		case xml.EndElement:
			if n == item {
				item = -1
				drop := deleted(version)
				if !drop {
					left++
					drop = left <= offset || (limit > 0 && written >= limit)
					if !drop {
						written++
					}
				}
				if drop {
					return []splice{{start: start, end: x.end}}
				}
			}
			if n == 1 && limit > 0 && left > offset+written {
				return []splice{{start: x.start, end: x.start, text: "<nextToken>" + strconv.Itoa(offset+written) + "</nextToken>"}}
			}
		}
		return nil
	})
}

// correctLatest rewrites the latestVersionNumber of each template in a
// DescribeLaunchTemplates answer that has deleted versions.
func (d *ltDeletions) correctLatest(region string, body []byte) []byte {
	var (
		item   = -1
		id     string
		latest *splice
		value  int64
	)
	return rewriteXML(body, func(x xmlToken) []splice {
		n := len(x.path)
		switch t := x.tok.(type) {
		case xml.StartElement:
			if item < 0 && n >= 2 && x.path[n-1] == "item" && x.path[n-2] == "launchTemplates" {
				item, id, latest = n, "", nil
			}
		case xml.CharData:
			if item >= 0 && n == item+1 {
				switch x.path[n-1] {
				case "launchTemplateId":
					id = strings.TrimSpace(string(t))
				case "latestVersionNumber":
					value, _ = strconv.ParseInt(strings.TrimSpace(string(t)), 10, 64)
					latest = &splice{start: x.start, end: x.end}
				}
			}
		case xml.EndElement:
			if n == item {
				item = -1
				if latest != nil && d.any(region, id) {
					s := *latest
					s.text = strconv.FormatInt(d.latestLeft(region, id, value), 10)
					return []splice{s}
				}
			}
		}
		return nil
	})
}

// checkDefault refuses a ModifyLaunchTemplate that makes a deleted version
// the default, as moto, which still has it, would not.
func (d *ltDeletions) checkDefault(ctx context.Context, mc *motoClients, q *queryRequest) *apiError {
	v := q.Form.Get("SetDefaultVersion")
	n, err := strconv.ParseInt(v, 10, 64)
	id, name := q.Form.Get("LaunchTemplateId"), q.Form.Get("LaunchTemplateName")
	if v == "" || err != nil || (id == "" && name == "") {
		return nil // moto's own checks
	}
	info, found, aerr := lookupTemplate(ctx, mc, id, name)
	if aerr != nil || !found {
		return aerr
	}
	if d.isDeleted(q.Region, info.ID, n) {
		return senderError("InvalidLaunchTemplateId.VersionNotFound", "Could not find the specified version %s for the launch template with ID %s.", v, info.ID)
	}
	return nil
}

// checkNamed refuses a request whose template (the parameters
// prefix+"LaunchTemplateId" or prefix+"LaunchTemplateName") and version
// (the parameter versionKey) name a deleted version, as AWS, which no longer
// has it, would: CreateLaunchTemplateVersion's SourceVersion and
// RunInstances' LaunchTemplate.Version. Anything else is left to moto.
func (d *ltDeletions) checkNamed(ctx context.Context, mc *motoClients, q *queryRequest, prefix, versionKey string) *apiError {
	v := q.Form.Get(versionKey)
	id, name := q.Form.Get(prefix+"LaunchTemplateId"), q.Form.Get(prefix+"LaunchTemplateName")
	if v == "" || (id == "" && name == "") {
		return nil
	}
	info, found, aerr := lookupTemplate(ctx, mc, id, name)
	if aerr != nil || !found || !d.any(q.Region, info.ID) {
		return aerr
	}
	if strings.EqualFold(v, "$Latest") {
		// moto would take the newest version it has, deleted or not.
		if latest := d.latestLeft(q.Region, info.ID, info.Latest); latest != info.Latest {
			q.Form.Set(versionKey, strconv.FormatInt(latest, 10))
			q.Body = []byte(q.Form.Encode())
		}
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && d.isDeleted(q.Region, info.ID, n) {
		return senderError("InvalidLaunchTemplateId.VersionNotFound", "Could not find the specified version %s for the launch template with ID %s.", v, info.ID)
	}
	return nil
}

// writeEC2Answer writes a successful EC2 answer of the given action with
// the children of fields.
func writeEC2Answer(w http.ResponseWriter, action string, fields *xmlNode) {
	writeEC2Result(w, action, fields.kids...)
}

// serveTemplateVersionsAndReferences answers the EC2 actions of ltdelete.go and
// imagereferences.go.
func (s *Server) serveTemplateVersionsAndReferences(w http.ResponseWriter, r *http.Request, q *queryRequest) {
	ctx := r.Context()
	mc := s.api.clientsFor(q.Region, q.AccessKey)
	forward := func(body []byte) (*capturedResponse, error) { return s.forward(r, body) }
	var answer *capturedResponse
	var aerr *apiError
	switch q.Action {
	case "DeleteLaunchTemplateVersions":
		var result *xmlNode
		if result, aerr = s.ltDel.deleteVersions(ctx, mc, q); aerr == nil {
			writeEC2Answer(w, q.Action, result)
			return
		}
	case "DescribeImageReferences":
		var result *xmlNode
		if result, aerr = s.describeImageReferences(ctx, mc, q); aerr == nil {
			writeEC2Answer(w, q.Action, result)
			return
		}
	case "DescribeLaunchTemplateVersions":
		answer, aerr = s.ltDel.describeVersions(ctx, mc, q, forward)
		if aerr == nil && answer.Status == http.StatusOK {
			answer.Body = s.lt.userData.withUserData(q.Region, answer.Body) // userdata.go
		}
	case "DescribeLaunchTemplates":
		answer, aerr = forwardAnswer(forward, q.Body)
		if aerr == nil && answer.Status == http.StatusOK {
			answer.Body = s.ltDel.correctLatest(q.Region, answer.Body)
		}
	case "ModifyLaunchTemplate":
		if aerr = s.ltDel.checkDefault(ctx, mc, q); aerr == nil {
			answer, aerr = forwardAnswer(forward, q.Body)
		}
	}
	if aerr != nil {
		writeEC2Error(w, aerr)
		return
	}
	answer.write(w)
}
