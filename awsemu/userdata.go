package awsemu

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"sync"
)

// This file works around a moto 5.2.1 fault with the user data of launch
// template versions. CreateLaunchTemplate decodes LaunchTemplateData.UserData
// as it should, but CreateLaunchTemplateVersion stores it as plain text,
// and then any Auto Scaling group that launches an instance from that
// version (CreateAutoScalingGroup, a scale-out) fails an internal assertion:
// moto answers HTTP 500 every time. A blue/green roll-out creates its new
// group on a new version made with SourceVersion, which inherits the user
// data, so it could never start.
//
// The emulator keeps the user data of the versions it creates itself and
// sends moto the version without it; it puts the user data back wherever
// AWS reports it (the CreateLaunchTemplateVersion and
// DescribeLaunchTemplateVersions answers) and where a later version
// inherits it (SourceVersion). AWS: UserData is "The user data to make
// available to the instance", base64-encoded, and a malformed one is
// refused (InvalidUserData.Malformed). What moto cannot do is hand it to
// the instances launched from such a version: their user data is empty
// in moto.

// userDataStore keeps user data by region, template id and version number.
type userDataStore struct {
	mu   sync.Mutex
	data map[string]string
}

func newUserDataStore() *userDataStore { return &userDataStore{data: map[string]string{}} }

func userDataKey(region, templateID, version string) string {
	return region + "/" + templateID + "/" + version
}

func (u *userDataStore) get(region, templateID, version string) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.data[userDataKey(region, templateID, version)]
	return v, ok
}

func (u *userDataStore) put(region, templateID, version, data string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data[userDataKey(region, templateID, version)] = data
}

func (u *userDataStore) empty() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.data) == 0
}

// takeUserData removes LaunchTemplateData.UserData from a
// CreateLaunchTemplateVersion request, returning it ("" if none), or an
// error for user data that is not base64.
func takeUserData(form url.Values) (string, *apiError) {
	const key = "LaunchTemplateData.UserData"
	v := form.Get(key)
	form.Del(key)
	if v == "" {
		return "", nil
	}
	if _, err := base64.StdEncoding.DecodeString(v); err != nil {
		return "", senderError("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.")
	}
	return v, nil
}

// versionOfAnswer reads the template id and version number of a
// CreateLaunchTemplateVersion answer.
func versionOfAnswer(body []byte) (templateID, version string) {
	var doc struct {
		ID      string `xml:"launchTemplateVersion>launchTemplateId"`
		Version string `xml:"launchTemplateVersion>versionNumber"`
	}
	if xml.Unmarshal(body, &doc) != nil {
		return "", ""
	}
	return doc.ID, doc.Version
}

// withUserData puts the kept user data back into each launch template
// version of an answer (CreateLaunchTemplateVersion's launchTemplateVersion,
// DescribeLaunchTemplateVersions' launchTemplateVersionSet items) that has
// none. Everything else is kept byte for byte.
func (u *userDataStore) withUserData(region string, body []byte) []byte {
	if u.empty() {
		return body
	}
	isVersion := func(path []string) bool {
		n := len(path)
		return n >= 1 && path[n-1] == "launchTemplateVersion" || n >= 2 && path[n-1] == "item" && path[n-2] == "launchTemplateVersionSet"
	}
	// First pass: each version's id and number, in order (moto may write
	// them after the data).
	type ref struct{ id, version string }
	var refs []ref
	item := -1
	rewriteXML(body, func(x xmlToken) []splice {
		n := len(x.path)
		switch t := x.tok.(type) {
		case xml.StartElement:
			if item < 0 && isVersion(x.path) {
				item = n
				refs = append(refs, ref{})
			}
		case xml.CharData:
			if item >= 0 && n == item+1 {
				switch x.path[n-1] {
				case "launchTemplateId":
					refs[len(refs)-1].id = string(bytes.TrimSpace(t))
				case "versionNumber":
					refs[len(refs)-1].version = string(bytes.TrimSpace(t))
				}
			}
		case xml.EndElement:
			if n == item {
				item = -1
			}
		}
		return nil
	})
	// Second pass: the user data at the end of each version's data.
	k, item, hasData := -1, -1, false
	return rewriteXML(body, func(x xmlToken) []splice {
		n := len(x.path)
		switch t := x.tok.(type) {
		case xml.StartElement:
			if item < 0 && isVersion(x.path) {
				item, hasData = n, false
				k++
			}
			if item >= 0 && n == item+2 && x.path[n-2] == "launchTemplateData" && t.Name.Local == "userData" {
				hasData = true
			}
		case xml.EndElement:
			switch {
			case item >= 0 && n == item+1 && t.Name.Local == "launchTemplateData" && !hasData && k < len(refs):
				if data, ok := u.get(region, refs[k].id, refs[k].version); ok {
					return []splice{{start: x.start, end: x.start, text: "<userData>" + xmlEscape(data) + "</userData>"}}
				}
			case n == item:
				item = -1
			}
		}
		return nil
	})
}
