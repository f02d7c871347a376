package awsemu

import (
	"encoding/json"
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// This file reads YAML templates into the same shape as JSON ones (objects,
// lists, strings, json.Number, bools), with the short forms of the
// intrinsic functions ("!Ref X", "!GetAtt A.B", "!Sub ...") turned into
// their full forms ({"Ref": "X"}, {"Fn::GetAtt": ["A", "B"]}, ...), as AWS
// documents them: "YAML-formatted templates" may use "the short form of
// the function name" with the "!" prefix.

// yamlShortForms maps each short-form tag to the full function name.
var yamlShortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition", "!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!Join": "Fn::Join",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!Base64": "Fn::Base64", "!If": "Fn::If", "!Equals": "Fn::Equals",
	"!And": "Fn::And", "!Or": "Fn::Or", "!Not": "Fn::Not", "!FindInMap": "Fn::FindInMap", "!ImportValue": "Fn::ImportValue",
	"!GetAZs": "Fn::GetAZs", "!Cidr": "Fn::Cidr", "!Transform": "Fn::Transform", "!ToJsonString": "Fn::ToJsonString",
	"!Length": "Fn::Length",
}

func parseYAMLTemplate(body string) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("the template is empty")
	}
	v, err := yamlValue(doc.Content[0])
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the template must be a mapping")
	}
	return m, nil
}

func yamlValue(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return yamlValue(n.Alias)
	}
	if fn, ok := yamlShortForms[n.Tag]; ok {
		plain := *n
		plain.Tag = ""
		arg, err := yamlValue(&plain)
		if err != nil {
			return nil, err
		}
		if s, isStr := arg.(string); isStr && fn == "Fn::GetAtt" {
			// "!GetAtt logicalNameOfResource.attributeName"
			for i := 0; i < len(s); i++ {
				if s[i] == '.' {
					return map[string]any{fn: []any{s[:i], s[i+1:]}}, nil
				}
			}
		}
		return map[string]any{fn: arg}, nil
	}
	if len(n.Tag) > 0 && n.Tag[0] == '!' && (len(n.Tag) < 2 || n.Tag[1] != '!') {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be strings", k.Line)
			}
			v, err := yamlValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return json.Number(n.Value), nil
			}
			return n.Value, nil
		case "!!bool":
			b, err := strconv.ParseBool(n.Value)
			if err != nil {
				return n.Value, nil
			}
			return b, nil
		case "!!null":
			return nil, nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}
