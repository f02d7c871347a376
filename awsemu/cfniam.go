package awsemu

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
)

// This file carries out the two IAM resource types a fleet stack usually
// has, AWS::IAM::Role and AWS::IAM::InstanceProfile, through moto's IAM
// API, so that stacks need the capabilities AWS asks for: "The following
// IAM resources require you to specify either the CAPABILITY_IAM or
// CAPABILITY_NAMED_IAM capability ... If you have IAM resources with custom
// names, you must specify CAPABILITY_NAMED_IAM" (CreateStack, UpdateStack).
// They are created and deleted; a change to one is refused (see doc.go).

const (
	cfnTypeRole            = "AWS::IAM::Role"
	cfnTypeInstanceProfile = "AWS::IAM::InstanceProfile"
)

func init() {
	cfnOwnedTypes = append(cfnOwnedTypes, cfnTypeRole, cfnTypeInstanceProfile)
	cfnProps[cfnTypeRole] = map[string]bool{"AssumeRolePolicyDocument": true, "ManagedPolicyArns": true, "Path": true, "RoleName": true, "Description": true}
	cfnProps[cfnTypeInstanceProfile] = map[string]bool{"Roles": true, "Path": true, "InstanceProfileName": true}
}

// iamCapability returns the capability a resource needs, or "".
func iamCapability(r *cfnResDecl) string {
	switch r.Type {
	case cfnTypeRole:
		if _, named := r.Props["RoleName"]; named {
			return "CAPABILITY_NAMED_IAM"
		}
		return "CAPABILITY_IAM"
	case cfnTypeInstanceProfile:
		if _, named := r.Props["InstanceProfileName"]; named {
			return "CAPABILITY_NAMED_IAM"
		}
		return "CAPABILITY_IAM"
	}
	return ""
}

func (c *cfnStacks) iam(ctx context.Context, st *cfnStack, form url.Values) ([]byte, error) {
	form.Set("Version", "2010-05-08")
	return c.s.api.clientsFor("us-east-1", st.AccessKey).raw(ctx, "iam", form)
}

var arnElement = regexp.MustCompile(`<Arn>([^<]+)</Arn>`)

// iamArn returns the first Arn of an IAM answer (the role's or the
// instance profile's).
func iamArn(body []byte) string {
	if m := arnElement.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

func (c *cfnStacks) createRole(ctx context.Context, st *cfnStack, id string, props map[string]any) (*cfnResource, error) {
	name := propString(props, "RoleName")
	if name == "" {
		name = physicalName(st.Name, id)
	}
	doc := props["AssumeRolePolicyDocument"]
	policy, ok := doc.(string)
	if !ok {
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("property AssumeRolePolicyDocument: %v", err)
		}
		policy = string(b)
	}
	if doc == nil {
		return nil, fmt.Errorf("property AssumeRolePolicyDocument of resource %s is required", id)
	}
	form := url.Values{"Action": {"CreateRole"}, "RoleName": {name}, "AssumeRolePolicyDocument": {policy}}
	if p := propString(props, "Path"); p != "" {
		form.Set("Path", p)
	}
	if d := propString(props, "Description"); d != "" {
		form.Set("Description", d)
	}
	body, err := c.iam(ctx, st, form)
	if err != nil {
		return nil, fmt.Errorf("creating role %s: %w", name, err)
	}
	for _, arn := range propList(props, "ManagedPolicyArns") {
		if _, err := c.iam(ctx, st, url.Values{"Action": {"AttachRolePolicy"}, "RoleName": {name}, "PolicyArn": {arn}}); err != nil {
			return nil, fmt.Errorf("attaching %s to role %s: %w", arn, name, err)
		}
	}
	return &cfnResource{LogicalID: id, Type: cfnTypeRole, PhysicalID: name, Props: props, Attrs: map[string]string{"Arn": iamArn(body)}, Extra: map[string]string{}}, nil
}

func (c *cfnStacks) deleteRole(ctx context.Context, st *cfnStack, r *cfnResource) error {
	for _, arn := range propList(r.Props, "ManagedPolicyArns") {
		_, _ = c.iam(ctx, st, url.Values{"Action": {"DetachRolePolicy"}, "RoleName": {r.PhysicalID}, "PolicyArn": {arn}})
	}
	_, err := c.iam(ctx, st, url.Values{"Action": {"DeleteRole"}, "RoleName": {r.PhysicalID}})
	return err
}

func (c *cfnStacks) createInstanceProfile(ctx context.Context, st *cfnStack, id string, props map[string]any) (*cfnResource, error) {
	name := propString(props, "InstanceProfileName")
	if name == "" {
		name = physicalName(st.Name, id)
	}
	roles := propList(props, "Roles")
	if len(roles) != 1 {
		return nil, fmt.Errorf("property Roles of resource %s must name exactly one role", id)
	}
	form := url.Values{"Action": {"CreateInstanceProfile"}, "InstanceProfileName": {name}}
	if p := propString(props, "Path"); p != "" {
		form.Set("Path", p)
	}
	body, err := c.iam(ctx, st, form)
	if err != nil {
		return nil, fmt.Errorf("creating instance profile %s: %w", name, err)
	}
	if _, err := c.iam(ctx, st, url.Values{"Action": {"AddRoleToInstanceProfile"}, "InstanceProfileName": {name}, "RoleName": {roles[0]}}); err != nil {
		return nil, fmt.Errorf("adding role %s to instance profile %s: %w", roles[0], name, err)
	}
	return &cfnResource{LogicalID: id, Type: cfnTypeInstanceProfile, PhysicalID: name, Props: props, Attrs: map[string]string{"Arn": iamArn(body)}, Extra: map[string]string{}}, nil
}

func (c *cfnStacks) deleteInstanceProfile(ctx context.Context, st *cfnStack, r *cfnResource) error {
	for _, role := range propList(r.Props, "Roles") {
		_, _ = c.iam(ctx, st, url.Values{"Action": {"RemoveRoleFromInstanceProfile"}, "InstanceProfileName": {r.PhysicalID}, "RoleName": {role}})
	}
	_, err := c.iam(ctx, st, url.Values{"Action": {"DeleteInstanceProfile"}, "InstanceProfileName": {r.PhysicalID}})
	return err
}
