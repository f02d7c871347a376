package awsemu

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
)

// This file corrects what moto reports about the launch template of each
// instance. moto reports every instance of a group as running the default
// version of the group's current launch template, whatever it was launched
// from; after a refresh to version 2 of a template whose default is 1, every
// instance would claim version 1. For the instances the emulator launched it
// knows the template and version, and DescribeAutoScalingGroups and
// DescribeAutoScalingInstances answers are corrected to say so. Instances
// moto launched itself keep moto's report.

// splice is a replacement of body[start:end].
type splice struct {
	start, end int64
	text       string
}

// applySplices returns body with each splice applied; splices are in
// order and do not overlap.
func applySplices(body []byte, splices []splice) []byte {
	if len(splices) == 0 {
		return body
	}
	var out bytes.Buffer
	var pos int64
	for _, s := range splices {
		out.Write(body[pos:s.start])
		out.WriteString(s.text)
		pos = s.end
	}
	out.Write(body[pos:])
	return out.Bytes()
}

// xmlToken is one token of a body being rewritten, with where it stands.
type xmlToken struct {
	tok xml.Token
	// path is the element names from the root down. For a start or end tag
	// it includes the tag's own element.
	path       []string
	start, end int64 // the token's byte range in the body
}

// rewriteXML walks body token by token and applies the splices that edit
// returns for each, in order. Everything else is kept byte for byte; a body
// that cannot be parsed is returned unchanged.
func rewriteXML(body []byte, edit func(t xmlToken) []splice) []byte {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var path []string
	var splices []splice
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return body
		}
		if se, ok := tok.(xml.StartElement); ok {
			path = append(path, se.Name.Local)
		}
		splices = append(splices, edit(xmlToken{tok: tok, path: path, start: start, end: dec.InputOffset()})...)
		if _, ok := tok.(xml.EndElement); ok && len(path) > 0 {
			path = path[:len(path)-1]
		}
	}
	return applySplices(body, splices)
}

// rewriteInstanceTemplates rewrites the LaunchTemplateId, LaunchTemplateName
// and Version of each instance entry (a member of Instances or of
// AutoScalingInstances) whose origin lookup knows, and adds the ImageId of
// those launched with an override's ImageId. Everything else in the
// body is kept byte for byte, so the answer stays moto's in every other
// respect. A body that cannot be parsed is returned unchanged.
func rewriteInstanceTemplates(body []byte, lookup func(instanceID string) (origin, bool)) []byte {
	var (
		current  origin
		known    bool
		hasImage bool
		instance = -1 // depth of the instance entry being read, -1 outside one
	)
	return rewriteXML(body, func(x xmlToken) []splice {
		n := len(x.path)
		switch t := x.tok.(type) {
		case xml.StartElement:
			if instance < 0 && n >= 2 && x.path[n-1] == "member" && (x.path[n-2] == "Instances" || x.path[n-2] == "AutoScalingInstances") {
				instance, known, hasImage = n, false, false
			}
			if instance >= 0 && n == instance+1 && t.Name.Local == "ImageId" {
				hasImage = true
			}
		case xml.EndElement:
			if n <= instance {
				ended := n == instance
				instance = -1
				// AWS reports ImageId for "Instances launched with AMI
				// overrides" (the SDK's doc of Instance.ImageId); moto never
				// does.
				if ended && known && current.FromOverride && !hasImage && current.ImageID != "" {
					return []splice{{start: x.start, end: x.start, text: "<ImageId>" + xmlEscape(current.ImageID) + "</ImageId>"}}
				}
			}
		case xml.CharData:
			if instance < 0 || n < 2 {
				return nil
			}
			switch {
			case n == instance+1 && x.path[n-1] == "InstanceId":
				current, known = lookup(string(bytes.TrimSpace(t)))
			case known && n == instance+2 && x.path[n-2] == "LaunchTemplate":
				var text string
				switch x.path[n-1] {
				case "LaunchTemplateId":
					text = current.TemplateID
				case "LaunchTemplateName":
					text = current.TemplateName
				case "Version":
					text = strconv.FormatInt(current.Number, 10)
				}
				if text != "" {
					return []splice{{start: x.start, end: x.end, text: xmlEscape(text)}}
				}
			}
		}
		return nil
	})
}

// addDefaultWarmups puts back the DefaultInstanceWarmup that moto accepts
// but does not keep (see addGroupElement).
func addDefaultWarmups(body []byte, lookup func(group string) (int, bool)) []byte {
	return addGroupElement(body, "DefaultInstanceWarmup", func(group string) (string, bool) {
		w, ok := lookup(group)
		return strconv.Itoa(w), ok
	})
}

// addGroupElement adds, to each group (a member of AutoScalingGroups) whose
// lookup knows a value and whose answer has no element of that name, the
// element with that value (XML, inserted as it is) before the group's
// closing tag. Everything else is kept byte for byte; a body that cannot be
// parsed is returned unchanged.
func addGroupElement(body []byte, element string, lookup func(group string) (string, bool)) []byte {
	var (
		group = -1 // depth of the group entry being read, -1 outside one
		name  string
		has   bool
	)
	return rewriteXML(body, func(x xmlToken) []splice {
		n := len(x.path)
		switch t := x.tok.(type) {
		case xml.StartElement:
			if group < 0 && n >= 2 && x.path[n-1] == "member" && x.path[n-2] == "AutoScalingGroups" {
				group, name, has = n, "", false
			}
			if n == group+1 && t.Name.Local == element {
				has = true
			}
		case xml.CharData:
			if group >= 0 && n == group+1 && x.path[n-1] == "AutoScalingGroupName" {
				name = string(bytes.TrimSpace(t))
			}
		case xml.EndElement:
			if n == group {
				group = -1
				if v, ok := lookup(name); ok && !has {
					return []splice{{start: x.start, end: x.start, text: "<" + element + ">" + v + "</" + element + ">"}}
				}
			}
		}
		return nil
	})
}
