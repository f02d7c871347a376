package awsemu

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func controlCall(t *testing.T, s *Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxFor(t), method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// The HTTP control API does what the Go methods do, for scripts.
func TestControlAPI(t *testing.T) {
	s := ownServer(t, 1)

	code, body := controlCall(t, s, "GET", "/_emu/health", "")
	var health struct {
		Status string  `json:"status"`
		Speed  float64 `json:"speed"`
	}
	if code != 200 || json.Unmarshal(body, &health) != nil || health.Status != "ok" || health.Speed != 1 {
		t.Errorf("health: %d %s", code, body)
	}

	if code, body := controlCall(t, s, "POST", "/_emu/speed", `{"speed":60}`); code != 200 || s.Speed() != 60 {
		t.Errorf("speed: %d %s, speed now %v", code, body, s.Speed())
	}
	if code, _ := controlCall(t, s, "POST", "/_emu/speed", `{"speed":0}`); code != 400 {
		t.Errorf("speed 0 answered %d, want 400", code)
	}

	if code, body := controlCall(t, s, "POST", "/_emu/unhealthy-images", `{"images":["ami-1","ami-2"]}`); code != 200 {
		t.Errorf("unhealthy-images: %d %s", code, body)
	}
	if !s.engine.isUnhealthy(nil, "ami-2") || s.engine.isUnhealthy(nil, oldAMI) {
		t.Errorf("unhealthy images not set")
	}

	if code, body := controlCall(t, s, "POST", "/_emu/unhealthy-image-tag", `{"key":"health","value":"broken"}`); code != 200 {
		t.Errorf("unhealthy-image-tag: %d %s", code, body)
	}

	if code, body := controlCall(t, s, "POST", "/_emu/faults", `{"service":"autoscaling","action":"DescribeAutoScalingGroups","kind":"slow","delay":"10ms","count":1}`); code != 200 {
		t.Errorf("add fault: %d %s", code, body)
	}
	if code, _ := controlCall(t, s, "POST", "/_emu/faults", `{"kind":"explode"}`); code != 400 {
		t.Errorf("unknown fault kind answered %d, want 400", code)
	}
	code, body = controlCall(t, s, "GET", "/_emu/faults", "")
	var faults []Fault
	if code != 200 || json.Unmarshal(body, &faults) != nil || len(faults) != 1 || faults[0].Kind != FaultSlow || faults[0].Delay != Duration(10e6) {
		t.Errorf("faults: %d %s", code, body)
	}

	c := newClients(s.URL(), 1)
	if _, err := c.asg.DescribeAutoScalingGroups(ctxFor(t), nil); err != nil {
		t.Fatalf("DescribeAutoScalingGroups: %v", err)
	}
	code, body = controlCall(t, s, "GET", "/_emu/calls", "")
	var calls []Call
	if code != 200 || json.Unmarshal(body, &calls) != nil || len(calls) != 1 || calls[0].Action != "DescribeAutoScalingGroups" || calls[0].Fault != FaultSlow {
		t.Errorf("calls: %d %s", code, body)
	}
	if !strings.Contains(string(body), `"action":"DescribeAutoScalingGroups"`) {
		t.Errorf("calls JSON does not use lowercase keys: %s", body)
	}

	if code, _ := controlCall(t, s, "DELETE", "/_emu/calls", ""); code != 204 || len(s.Calls()) != 0 {
		t.Errorf("delete calls: %d, %d left", code, len(s.Calls()))
	}
	if code, _ := controlCall(t, s, "DELETE", "/_emu/faults", ""); code != 204 || len(s.faults.list()) != 0 {
		t.Errorf("delete faults: %d", code)
	}
	if code, body := controlCall(t, s, "POST", "/_emu/describe-lag", `{"lag":"90s"}`); code != 200 || s.DescribeLag() != 90*time.Second {
		t.Errorf("describe-lag: %d %s, lag now %v", code, body, s.DescribeLag())
	}
	if code, body := controlCall(t, s, "GET", "/_emu/describe-lag", ""); code != 200 || !strings.Contains(string(body), `"1m30s"`) {
		t.Errorf("get describe-lag: %d %s", code, body)
	}
	if code, _ := controlCall(t, s, "POST", "/_emu/describe-lag", `{"lag":"-1s"}`); code != 400 {
		t.Errorf("negative lag answered %d, want 400", code)
	}
	if code, body := controlCall(t, s, "POST", "/_emu/reported-status", `{"group":"g1","status":"Paused","for":"1h"}`); code != 200 || s.engine.reported["g1"].Status != "Paused" {
		t.Errorf("reported-status: %d %s", code, body)
	}
	if code, _ := controlCall(t, s, "POST", "/_emu/reported-status", `{"status":"Paused"}`); code != 400 {
		t.Errorf("reported-status without a group answered %d, want 400", code)
	}
	if code, _ := controlCall(t, s, "DELETE", "/_emu/reported-status", ""); code != 204 || len(s.engine.reported) != 0 {
		t.Errorf("delete reported-status: %d", code)
	}
	if code, _ := controlCall(t, s, "GET", "/_emu/nothing", ""); code != 404 {
		t.Errorf("unknown endpoint answered %d, want 404", code)
	}
}
