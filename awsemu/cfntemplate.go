package awsemu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// This file reads CloudFormation templates: the subset the emulator owns
// (see doc.go, "CloudFormation"), parsed and checked before anything is
// created, and the intrinsic functions that subset needs.

// Resource types whose stacks the emulator carries out itself.
const (
	cfnTypeLaunchTemplate = "AWS::EC2::LaunchTemplate"
	cfnTypeLaunchConfig   = "AWS::AutoScaling::LaunchConfiguration"
	cfnTypeGroup          = "AWS::AutoScaling::AutoScalingGroup"
)

// cfnCoreTypes make a stack the emulator's; cfnOwnedTypes are every type
// it carries out (the core ones, and IAM ones beside them: cfniam.go).
var cfnCoreTypes = []string{cfnTypeLaunchTemplate, cfnTypeLaunchConfig, cfnTypeGroup}

var cfnOwnedTypes = append([]string(nil), cfnCoreTypes...)

func isOwnedType(t string) bool {
	for _, o := range cfnOwnedTypes {
		if o == t {
			return true
		}
	}
	return false
}

// cfnTemplate is a parsed template.
type cfnTemplate struct {
	Description string
	Params      map[string]*cfnParamDecl
	ParamOrder  []string
	Resources   map[string]*cfnResDecl
	Order       []string // logical ids, dependencies first
	Outputs     map[string]cfnOutputDecl
	OutputOrder []string
	// canonical is the template re-encoded with sorted keys: two bodies
	// that differ only in layout compare equal.
	canonical string
}

type cfnParamDecl struct {
	Key         string
	Type        string
	Default     string
	HasDefault  bool
	NoEcho      bool
	Allowed     []string
	Description string
}

type cfnResDecl struct {
	LogicalID      string
	Type           string
	Props          map[string]any
	UpdatePolicy   map[string]any
	CreationPolicy map[string]any
	DependsOn      []string
}

type cfnOutputDecl struct {
	Value       any
	Description string
}

// templateError is a ValidationError about the template, worded as AWS
// words them ("Template format error: ...").
func templateError(format string, args ...any) *apiError {
	return validationError("Template format error: "+format, args...)
}

// errNotOwned is returned by parseTemplate for a template without any of
// the emulator's resource types: such a stack is left to moto.
var errNotOwned = &apiError{Code: "NotOwned"}

// parseTemplate parses and checks a template body, JSON or YAML (the
// short forms of the functions included; see cfnyaml.go).
func parseTemplate(body string) (*cfnTemplate, *apiError) {
	trimmed := strings.TrimSpace(body)
	if trimmed == "" {
		return nil, validationError("Template body must not be empty.")
	}
	var raw map[string]any
	if strings.HasPrefix(trimmed, "{") {
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, templateError("JSON not well-formed: %v", err)
		}
	} else {
		var err error
		if raw, err = parseYAMLTemplate(trimmed); err != nil {
			return nil, templateError("YAML not well-formed: %v", err)
		}
	}
	canon, _ := json.Marshal(raw) // map keys are sorted by encoding/json
	t := &cfnTemplate{Params: map[string]*cfnParamDecl{}, Resources: map[string]*cfnResDecl{}, Outputs: map[string]cfnOutputDecl{}, canonical: string(canon)}

	resources, ok := raw["Resources"].(map[string]any)
	if !ok || len(resources) == 0 {
		return nil, templateError("At least one Resources member must be defined.")
	}
	owned, other := 0, []string{}
	for _, v := range resources {
		m, _ := v.(map[string]any)
		typ, _ := m["Type"].(string)
		switch {
		case slices.Contains(cfnCoreTypes, typ):
			owned++
		case !isOwnedType(typ):
			other = append(other, typ)
		}
	}
	if owned == 0 {
		return nil, errNotOwned
	}
	if len(other) > 0 {
		sort.Strings(other)
		return nil, templateError("awsemu carries out stacks of %s only and does not emulate resource types %v in them; split such resources into another stack, which moto then handles.",
			strings.Join(cfnOwnedTypes, ", "), other)
	}
	for k := range raw {
		switch k {
		case "AWSTemplateFormatVersion", "Description", "Parameters", "Resources", "Outputs", "Metadata":
		default:
			return nil, templateError("awsemu does not support the template section %s (supported: AWSTemplateFormatVersion, Description, Metadata, Parameters, Resources, Outputs).", k)
		}
	}
	if v, ok := raw["AWSTemplateFormatVersion"]; ok && v != "2010-09-09" {
		return nil, templateError("Unsupported AWSTemplateFormatVersion %v: the only valid version is 2010-09-09.", v)
	}
	t.Description, _ = raw["Description"].(string)

	if ps, ok := raw["Parameters"].(map[string]any); ok {
		for key, v := range ps {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, templateError("Parameter %s must be an object.", key)
			}
			p := &cfnParamDecl{Key: key}
			p.Type, _ = m["Type"].(string)
			if p.Type == "" {
				return nil, templateError("Parameter %s has no Type.", key)
			}
			if !supportedParamType(p.Type) {
				return nil, templateError("awsemu does not support parameter type %s (parameter %s); use String, Number, CommaDelimitedList, List<Number>, an AWS::EC2::...::Id type or a List<> of one.", p.Type, key)
			}
			if d, ok := m["Default"]; ok {
				p.Default, p.HasDefault = scalarString(d), true
			}
			p.NoEcho = scalarString(m["NoEcho"]) == "true"
			p.Description, _ = m["Description"].(string)
			if av, ok := m["AllowedValues"].([]any); ok {
				for _, a := range av {
					p.Allowed = append(p.Allowed, scalarString(a))
				}
			}
			t.Params[key] = p
			t.ParamOrder = append(t.ParamOrder, key)
		}
		sort.Strings(t.ParamOrder)
	}

	for id, v := range resources {
		m, _ := v.(map[string]any)
		r := &cfnResDecl{LogicalID: id, Props: map[string]any{}}
		for k, val := range m {
			switch k {
			case "Type":
				r.Type, _ = val.(string)
			case "Properties":
				props, ok := val.(map[string]any)
				if !ok {
					return nil, templateError("Properties of resource %s must be an object.", id)
				}
				r.Props = props
			case "UpdatePolicy":
				r.UpdatePolicy, _ = val.(map[string]any)
			case "CreationPolicy":
				r.CreationPolicy, _ = val.(map[string]any)
			case "DependsOn":
				switch d := val.(type) {
				case string:
					r.DependsOn = []string{d}
				case []any:
					for _, x := range d {
						s, _ := x.(string)
						r.DependsOn = append(r.DependsOn, s)
					}
				}
			case "Metadata", "DeletionPolicy", "UpdateReplacePolicy":
				// accepted; DeletionPolicy and UpdateReplacePolicy are not applied (doc.go)
			default:
				return nil, templateError("awsemu does not support the resource attribute %s (resource %s).", k, id)
			}
		}
		if aerr := checkResourceProps(r); aerr != nil {
			return nil, aerr
		}
		t.Resources[id] = r
	}

	if os, ok := raw["Outputs"].(map[string]any); ok {
		for key, v := range os {
			m, _ := v.(map[string]any)
			if _, ok := m["Value"]; !ok {
				return nil, templateError("Output %s is missing the Value attribute.", key)
			}
			if _, ok := m["Export"]; ok {
				return nil, templateError("awsemu does not support Export (output %s).", key)
			}
			d, _ := m["Description"].(string)
			t.Outputs[key] = cfnOutputDecl{Value: m["Value"], Description: d}
			t.OutputOrder = append(t.OutputOrder, key)
		}
		sort.Strings(t.OutputOrder)
	}

	// References must name parameters, pseudo parameters or resources, and
	// the functions must be ones the emulator evaluates.
	for _, id := range sortedKeys(t.Resources) {
		r := t.Resources[id]
		for _, d := range r.DependsOn {
			if _, ok := t.Resources[d]; !ok {
				return nil, templateError("Unresolved resource dependencies [%s] in the Resources block of the template", d)
			}
		}
		if aerr := t.checkRefs(r.Props, "resource "+id); aerr != nil {
			return nil, aerr
		}
	}
	for _, k := range t.OutputOrder {
		if aerr := t.checkRefs(t.Outputs[k].Value, "output "+k); aerr != nil {
			return nil, aerr
		}
	}
	order, aerr := t.dependencyOrder()
	if aerr != nil {
		return nil, aerr
	}
	t.Order = order
	return t, nil
}

func supportedParamType(t string) bool {
	switch t {
	case "String", "Number", "CommaDelimitedList", "List<Number>":
		return true
	}
	inner := t
	if strings.HasPrefix(t, "List<") && strings.HasSuffix(t, ">") {
		inner = t[5 : len(t)-1]
	}
	return strings.HasPrefix(inner, "AWS::EC2::") && strings.HasSuffix(inner, "::Id") ||
		inner == "AWS::EC2::KeyPair::KeyName" || inner == "AWS::EC2::AvailabilityZone::Name"
}

func isListParam(t string) bool { return t == "CommaDelimitedList" || strings.HasPrefix(t, "List<") }

var pseudoParams = map[string]bool{
	"AWS::AccountId": true, "AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true,
	"AWS::Partition": true, "AWS::URLSuffix": true, "AWS::NoValue": true,
}

// cfnFunctions are the intrinsic functions the emulator evaluates.
var cfnFunctions = map[string]bool{"Ref": true, "Fn::GetAtt": true, "Fn::Sub": true, "Fn::Join": true, "Fn::Base64": true, "Fn::Select": true, "Fn::Split": true}

// checkRefs walks v and checks each function and what it refers to.
func (t *cfnTemplate) checkRefs(v any, where string) *apiError {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if aerr := t.checkRefs(e, where); aerr != nil {
				return aerr
			}
		}
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if strings.HasPrefix(k, "Fn::") || k == "Ref" || k == "Condition" {
					if !cfnFunctions[k] {
						return templateError("awsemu does not support the function %s (in %s); it evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split and Fn::Base64.", k, where)
					}
					for _, name := range refsOf(k, arg) {
						if !pseudoParams[name] && t.Params[name] == nil && t.Resources[name] == nil {
							return templateError("Unresolved resource dependencies [%s] in the Resources block of the template", name)
						}
					}
				}
			}
		}
		for _, e := range x {
			if aerr := t.checkRefs(e, where); aerr != nil {
				return aerr
			}
		}
	}
	return nil
}

var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// refsOf returns the names a function refers to.
func refsOf(fn string, arg any) []string {
	switch fn {
	case "Ref":
		s, _ := arg.(string)
		return []string{s}
	case "Fn::GetAtt":
		if res, _, ok := getAttArgs(arg); ok {
			return []string{res}
		}
	case "Fn::Sub":
		s, vars := subArgs(arg)
		var out []string
		for _, m := range subVar.FindAllStringSubmatch(s, -1) {
			name := m[1]
			if _, local := vars[name]; local {
				continue
			}
			if i := strings.IndexByte(name, '.'); i >= 0 {
				name = name[:i]
			}
			out = append(out, name)
		}
		return out
	}
	return nil
}

func getAttArgs(arg any) (res, attr string, ok bool) {
	switch a := arg.(type) {
	case string:
		res, attr, ok = strings.Cut(a, ".")
		return
	case []any:
		if len(a) == 2 {
			res, _ = a[0].(string)
			attr, _ = a[1].(string)
			return res, attr, res != "" && attr != ""
		}
	}
	return "", "", false
}

func subArgs(arg any) (string, map[string]any) {
	switch a := arg.(type) {
	case string:
		return a, nil
	case []any:
		if len(a) == 2 {
			s, _ := a[0].(string)
			vars, _ := a[1].(map[string]any)
			return s, vars
		}
	}
	return "", nil
}

// resourceRefs returns the resources v refers to.
func (t *cfnTemplate) resourceRefs(v any, into map[string]bool) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			t.resourceRefs(e, into)
		}
	case map[string]any:
		for k, arg := range x {
			if cfnFunctions[k] {
				for _, name := range refsOf(k, arg) {
					if t.Resources[name] != nil {
						into[name] = true
					}
				}
			}
			t.resourceRefs(arg, into)
		}
	}
}

// dependencyOrder sorts the resources so that each comes after what it
// refers to or depends on; a cycle is a template error, as in AWS.
func (t *cfnTemplate) dependencyOrder() ([]string, *apiError) {
	deps := map[string]map[string]bool{}
	for id, r := range t.Resources {
		d := map[string]bool{}
		t.resourceRefs(r.Props, d)
		for _, x := range r.DependsOn {
			d[x] = true
		}
		deps[id] = d
	}
	var order []string
	done := map[string]bool{}
	for len(order) < len(t.Resources) {
		progressed := false
		for _, id := range sortedKeys(t.Resources) {
			if done[id] {
				continue
			}
			ready := true
			for d := range deps[id] {
				if !done[d] {
					ready = false
				}
			}
			if ready {
				done[id] = true
				order = append(order, id)
				progressed = true
			}
		}
		if !progressed {
			var left []string
			for _, id := range sortedKeys(t.Resources) {
				if !done[id] {
					left = append(left, id)
				}
			}
			return nil, templateError("Circular dependency between resources: %v", left)
		}
	}
	return order, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// scalarString renders a JSON scalar as CloudFormation passes it on: every
// property value reaches the resource as a string.
func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// cfnEval evaluates intrinsic functions against a stack's parameters and
// resources.
type cfnEval struct {
	params map[string]any // string, or []any of strings for list types
	pseudo map[string]string
	res    map[string]*cfnResource
}

// noValue is what Ref AWS::NoValue evaluates to: the property is removed.
type noValueT struct{}

var noValue = noValueT{}

func (ev *cfnEval) eval(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			r, err := ev.eval(e)
			if err != nil {
				return nil, err
			}
			if r == noValue {
				continue
			}
			out = append(out, r)
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if cfnFunctions[k] {
					return ev.call(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := ev.eval(e)
			if err != nil {
				return nil, err
			}
			if r == noValue {
				continue
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func (ev *cfnEval) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue, nil
	}
	if v, ok := ev.pseudo[name]; ok {
		return v, nil
	}
	if v, ok := ev.params[name]; ok {
		return v, nil
	}
	if r, ok := ev.res[name]; ok && r.PhysicalID != "" {
		return r.PhysicalID, nil
	}
	return nil, fmt.Errorf("the reference %s cannot be resolved yet", name)
}

func (ev *cfnEval) call(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return ev.ref(name)
	case "Fn::GetAtt":
		res, attr, ok := getAttArgs(arg)
		if !ok {
			return nil, fmt.Errorf("Template error: every Fn::GetAtt object requires two non-empty parameters")
		}
		r := ev.res[res]
		if r == nil {
			return nil, fmt.Errorf("Template error: instance of Fn::GetAtt references undefined resource %s", res)
		}
		v, ok := r.Attrs[attr]
		if !ok {
			return nil, fmt.Errorf("Template error: resource %s does not support attribute type %s in Fn::GetAtt", res, attr)
		}
		return v, nil
	case "Fn::Sub":
		s, vars := subArgs(arg)
		local := map[string]string{}
		for k, v := range vars {
			r, err := ev.eval(v)
			if err != nil {
				return nil, err
			}
			local[k] = scalarString(r)
		}
		var firstErr error
		out := subVar.ReplaceAllStringFunc(s, func(m string) string {
			name := m[2 : len(m)-1]
			if v, ok := local[name]; ok {
				return v
			}
			var r any
			var err error
			if res, attr, dotted := strings.Cut(name, "."); dotted {
				r, err = ev.call("Fn::GetAtt", []any{res, attr})
			} else {
				r, err = ev.ref(name)
			}
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return m
			}
			return scalarString(r)
		})
		if firstErr != nil {
			return nil, firstErr
		}
		return strings.ReplaceAll(out, "${!", "${"), nil
	case "Fn::Join":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return nil, fmt.Errorf("Template error: Fn::Join requires a delimiter and a list")
		}
		delim, _ := a[0].(string)
		list, err := ev.eval(a[1])
		if err != nil {
			return nil, err
		}
		items, _ := list.([]any)
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = scalarString(it)
		}
		return strings.Join(parts, delim), nil
	case "Fn::Select":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return nil, fmt.Errorf("Template error: Fn::Select requires an index and a list")
		}
		idx, err := ev.eval(a[0])
		if err != nil {
			return nil, err
		}
		list, err := ev.eval(a[1])
		if err != nil {
			return nil, err
		}
		items, _ := list.([]any)
		n, err := strconv.Atoi(scalarString(idx))
		if err != nil || n < 0 || n >= len(items) {
			return nil, fmt.Errorf("Template error: Fn::Select cannot select nonexistent value at index %s", scalarString(idx))
		}
		return items[n], nil
	case "Fn::Split":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return nil, fmt.Errorf("Template error: Fn::Split requires a delimiter and a string")
		}
		delim, _ := a[0].(string)
		s, err := ev.eval(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(scalarString(s), delim) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Base64":
		s, err := ev.eval(arg)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString([]byte(scalarString(s))), nil
	}
	return nil, fmt.Errorf("unsupported function %s", fn)
}

// canonicalJSON encodes v with sorted keys, to compare resolved
// properties.
func canonicalJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}
