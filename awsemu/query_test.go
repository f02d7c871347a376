package awsemu

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestParseQueryRequest(t *testing.T) {
	body := "Action=StartInstanceRefresh&Version=2011-01-01&AutoScalingGroupName=web"
	r, _ := http.NewRequest(http.MethodPost, "http://x/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/eu-west-1/autoscaling/aws4_request, SignedHeaders=host, Signature=abc")
	q := parseQueryRequest(r, []byte(body))
	if q.Service != "autoscaling" || q.Region != "eu-west-1" || q.AccessKey != "AKIDEXAMPLE" || q.Action != "StartInstanceRefresh" {
		t.Errorf("parsed %+v", q)
	}
	if p := q.params(); p["AutoScalingGroupName"] != "web" || p["Version"] != "2011-01-01" {
		t.Errorf("params %v", p)
	}
}

// Echoed structures must come out as the SDK reads them: nested elements,
// lists as member elements in index order (2 before 10).
func TestParamTree(t *testing.T) {
	form := url.Values{}
	form.Set("MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateId", "lt-1")
	for i, typ := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		form.Set("MixedInstancesPolicy.LaunchTemplate.Overrides.member."+strconv.Itoa(i+1)+".InstanceType", typ)
	}
	form.Set("MixedInstancesPolicy.InstancesDistribution.OnDemandBaseCapacity", "1")
	form.Set("Empty", "")
	got := paramTree("DesiredConfiguration", form).String()
	want := `<DesiredConfiguration><Empty></Empty><MixedInstancesPolicy><InstancesDistribution><OnDemandBaseCapacity>1</OnDemandBaseCapacity></InstancesDistribution>` +
		`<LaunchTemplate><LaunchTemplateSpecification><LaunchTemplateId>lt-1</LaunchTemplateId></LaunchTemplateSpecification><Overrides>` +
		`<member><InstanceType>a</InstanceType></member><member><InstanceType>b</InstanceType></member><member><InstanceType>c</InstanceType></member>` +
		`<member><InstanceType>d</InstanceType></member><member><InstanceType>e</InstanceType></member><member><InstanceType>f</InstanceType></member>` +
		`<member><InstanceType>g</InstanceType></member><member><InstanceType>h</InstanceType></member><member><InstanceType>i</InstanceType></member>` +
		`<member><InstanceType>j</InstanceType></member></Overrides></LaunchTemplate></MixedInstancesPolicy></DesiredConfiguration>`
	if !strings.HasSuffix(got, want) {
		t.Errorf("paramTree:\n got %s\nwant %s", got, want)
	}
}

func TestXMLEscaping(t *testing.T) {
	got := elem("A", leaf("B", `<x & "y">`)).String()
	if !strings.HasSuffix(got, `<A><B>&lt;x &amp; &quot;y&quot;&gt;</B></A>`) {
		t.Errorf("escaped as %s", got)
	}
}

func TestPageTokens(t *testing.T) {
	from, to, next, err := page(5, 2, "")
	if err != nil || from != 0 || to != 2 || next == "" {
		t.Fatalf("first page: %d %d %q %v", from, to, next, err)
	}
	from, to, next, err = page(5, 2, next)
	if err != nil || from != 2 || to != 4 || next == "" {
		t.Fatalf("second page: %d %d %q %v", from, to, next, err)
	}
	from, to, next, err = page(5, 2, next)
	if err != nil || from != 4 || to != 5 || next != "" {
		t.Fatalf("last page: %d %d %q %v", from, to, next, err)
	}
	if _, _, _, err := page(5, 2, "garbage"); err == nil {
		t.Error("a bad token was accepted")
	}
}

// Only the launch template fields of known instances change; the rest of
// moto's answer is kept byte for byte.
func TestRewriteInstanceTemplates(t *testing.T) {
	body := `<DescribeAutoScalingGroupsResponse xmlns="x"><DescribeAutoScalingGroupsResult><AutoScalingGroups><member>` +
		`<LaunchTemplate><LaunchTemplateId>lt-g</LaunchTemplateId><LaunchTemplateName>g</LaunchTemplateName><Version>1</Version></LaunchTemplate>` +
		`<Instances><member><InstanceId>i-known</InstanceId><LaunchTemplate><LaunchTemplateId>lt-g</LaunchTemplateId><LaunchTemplateName>g</LaunchTemplateName><Version>1</Version></LaunchTemplate></member>` +
		`<member><InstanceId>i-other</InstanceId><LaunchTemplate><LaunchTemplateId>lt-g</LaunchTemplateId><LaunchTemplateName>g</LaunchTemplateName><Version>1</Version></LaunchTemplate></member></Instances>` +
		`</member></AutoScalingGroups></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>`
	got := string(rewriteInstanceTemplates([]byte(body), func(id string) (origin, bool) {
		if id == "i-known" {
			return origin{TemplateID: "lt-new", TemplateName: "new", Number: 7}, true
		}
		return origin{}, false
	}))
	want := strings.Replace(body,
		`<InstanceId>i-known</InstanceId><LaunchTemplate><LaunchTemplateId>lt-g</LaunchTemplateId><LaunchTemplateName>g</LaunchTemplateName><Version>1</Version>`,
		`<InstanceId>i-known</InstanceId><LaunchTemplate><LaunchTemplateId>lt-new</LaunchTemplateId><LaunchTemplateName>new</LaunchTemplateName><Version>7</Version>`, 1)
	if got != want {
		t.Errorf("rewritten:\n got %s\nwant %s", got, want)
	}
}

// Answers from moto are parsed, never trusted to be well-formed: the rewrite
// must not panic, and must leave a body alone when it knows no instance.
func FuzzRewriteInstanceTemplates(f *testing.F) {
	f.Add([]byte(`<R><AutoScalingInstances><member><InstanceId>i-1</InstanceId><LaunchTemplate><Version>1</Version></LaunchTemplate></member></AutoScalingInstances></R>`))
	f.Add([]byte(`<R><Instances><member><InstanceId>i-1</InstanceId><LaunchTemplate><Version/></LaunchTemplate></member></Instances>`))
	f.Add([]byte(`not xml`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if got := rewriteInstanceTemplates(body, func(string) (origin, bool) { return origin{}, false }); !bytes.Equal(got, body) {
			t.Errorf("body changed although no instance is known")
		}
		rewriteInstanceTemplates(body, func(string) (origin, bool) {
			return origin{TemplateID: "lt-<&>", TemplateName: "n", Number: 3}, true
		})
	})
}

func TestAddDefaultWarmups(t *testing.T) {
	body := []byte(`<R><AutoScalingGroups><member><AutoScalingGroupName>a</AutoScalingGroupName><Instances><member><InstanceId>i-1</InstanceId></member></Instances></member>` +
		`<member><AutoScalingGroupName>b</AutoScalingGroupName></member>` +
		`<member><AutoScalingGroupName>c</AutoScalingGroupName><DefaultInstanceWarmup>7</DefaultInstanceWarmup></member></AutoScalingGroups></R>`)
	got := string(addDefaultWarmups(body, func(g string) (int, bool) { return 45, g != "b" }))
	want := `<R><AutoScalingGroups><member><AutoScalingGroupName>a</AutoScalingGroupName><Instances><member><InstanceId>i-1</InstanceId></member></Instances><DefaultInstanceWarmup>45</DefaultInstanceWarmup></member>` +
		`<member><AutoScalingGroupName>b</AutoScalingGroupName></member>` +
		`<member><AutoScalingGroupName>c</AutoScalingGroupName><DefaultInstanceWarmup>7</DefaultInstanceWarmup></member></AutoScalingGroups></R>`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
