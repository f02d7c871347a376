package awsemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// This file is the control surface of the emulator, in-process (for Go
// tests) and over HTTP under /_emu/ (for scripts and other languages):
//
//	GET    /_emu/health            {"status":"ok","url":...,"moto":...,"speed":...}
//	GET    /_emu/speed             {"speed":60}
//	POST   /_emu/speed             {"speed":60}
//	POST   /_emu/unhealthy-images  {"images":["ami-..."]}
//	POST   /_emu/unhealthy-image-tag {"key":"health","value":"broken"}
//	GET    /_emu/faults            the active faults
//	POST   /_emu/faults            one Fault
//	DELETE /_emu/faults
//	GET    /_emu/calls             the call log
//	DELETE /_emu/calls
//	GET    /_emu/describe-lag      {"lag":"30s"}
//	POST   /_emu/describe-lag      {"lag":"30s"}  (emulated time; "0s" turns it off)
//	POST   /_emu/reported-status   {"group":"g","status":"Paused","for":"10m"}
//	                               ("for" optional, emulated; status "" clears the group)
//	DELETE /_emu/reported-status   clears every group
//	GET    /_emu/stacks            the CloudFormation stacks the emulator carries out
//	POST   /_emu/account-limits    {"max_groups":10,"max_launch_configurations":5} (0: AWS's default)
//
// Control requests are neither logged nor subject to faults.

const controlPrefix = "/_emu/"

// SetSpeed sets how many emulated seconds pass per real second. Waits in
// progress adjust at once. Non-positive values are ignored.
func (s *Server) SetSpeed(f float64) {
	s.clock.SetSpeed(f)
	s.logf("speed set to %v", s.clock.Speed())
}

// Speed returns the current speed of the emulated clock.
func (s *Server) Speed() float64 { return s.clock.Speed() }

// Now returns the emulated time, the time base of refresh timestamps.
func (s *Server) Now() time.Time { return s.clock.Now() }

// SetUnhealthyImages makes instances on these AMIs fail their health
// checks: instances that refreshes launch, after warm-up, and any instance
// in a target group or Classic Load Balancer (targethealth.go). It replaces
// the previous set; no arguments clear it.
func (s *Server) SetUnhealthyImages(amiIDs ...string) {
	s.engine.setUnhealthyImages(amiIDs)
}

// SetUnhealthyImageTag makes instances on AMIs tagged key=value fail their
// health checks (as SetUnhealthyImages does), in addition to the images
// of SetUnhealthyImages: a test can mark the AMI a build is about to make
// by the tags it will carry. It replaces the previous tag; an empty key
// clears it.
func (s *Server) SetUnhealthyImageTag(key, value string) {
	s.engine.setUnhealthyImageTag(key, value)
}

// SetDescribeLag makes instance refreshes started from now on missing from
// DescribeInstanceRefreshes for d of emulated time after they start, as a
// just-started refresh can briefly be in AWS (eventual consistency). The
// refresh runs meanwhile, and CancelInstanceRefresh and
// RollbackInstanceRefresh act on it, since they act on the group's active
// refresh. 0, the default, shows refreshes at once; refreshes already
// started keep the lag they started with.
func (s *Server) SetDescribeLag(d time.Duration) { s.engine.setDescribeLag(d) }

// DescribeLag returns the lag set by SetDescribeLag.
func (s *Server) DescribeLag() time.Duration { return s.engine.getDescribeLag() }

// SetReportedStatus makes DescribeInstanceRefreshes report status (any
// string, such as one AWS may add in future) for every refresh of the
// group named group, in any region, for d of emulated time (0: until
// cleared). The refreshes underneath keep running and their other fields
// stay true. An empty status clears the group's override.
func (s *Server) SetReportedStatus(group, status string, d time.Duration) {
	s.engine.setReportedStatus(group, status, d)
}

// ClearReportedStatuses removes every SetReportedStatus override.
func (s *Server) ClearReportedStatuses() { s.engine.clearReportedStatuses() }

// AddFault adds a fault. A fault of an unknown kind never applies (the HTTP
// API refuses it).
func (s *Server) AddFault(f Fault) {
	if err := f.validate(); err != nil {
		s.logf("ignoring fault: %v", err)
	}
	s.faults.add(f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() { s.faults.clear() }

// Calls returns the requests received so far, oldest first.
func (s *Server) Calls() []Call { return s.calls.list() }

// ResetCalls empties the call log.
func (s *Server) ResetCalls() { s.calls.reset() }

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path[len(controlPrefix)-1:]
	switch route {
	case "GET /health":
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "url": s.url, "moto": s.moto.url, "speed": s.clock.Speed()})
	case "GET /speed":
		writeJSON(w, http.StatusOK, map[string]float64{"speed": s.clock.Speed()})
	case "POST /speed":
		var req struct {
			Speed float64 `json:"speed"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.Speed <= 0 {
			writeJSONError(w, http.StatusBadRequest, fmt.Errorf("speed must be positive, got %v", req.Speed))
			return
		}
		s.SetSpeed(req.Speed)
		writeJSON(w, http.StatusOK, map[string]float64{"speed": s.clock.Speed()})
	case "POST /unhealthy-images":
		var req struct {
			Images []string `json:"images"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		s.SetUnhealthyImages(req.Images...)
		writeJSON(w, http.StatusOK, req)
	case "POST /unhealthy-image-tag":
		var req struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		s.SetUnhealthyImageTag(req.Key, req.Value)
		writeJSON(w, http.StatusOK, req)
	case "GET /faults":
		writeJSON(w, http.StatusOK, s.faults.list())
	case "POST /faults":
		var f Fault
		if !readJSON(w, r, &f) {
			return
		}
		if err := f.validate(); err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		s.AddFault(f)
		writeJSON(w, http.StatusOK, f)
	case "DELETE /faults":
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case "GET /calls":
		writeJSON(w, http.StatusOK, s.Calls())
	case "DELETE /calls":
		s.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	case "GET /describe-lag":
		writeJSON(w, http.StatusOK, map[string]Duration{"lag": Duration(s.DescribeLag())})
	case "POST /describe-lag":
		var req struct {
			Lag Duration `json:"lag"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.Lag < 0 {
			writeJSONError(w, http.StatusBadRequest, fmt.Errorf("lag must not be negative, got %v", time.Duration(req.Lag)))
			return
		}
		s.SetDescribeLag(time.Duration(req.Lag))
		writeJSON(w, http.StatusOK, req)
	case "POST /reported-status":
		var req struct {
			Group  string   `json:"group"`
			Status string   `json:"status"`
			For    Duration `json:"for"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.Group == "" || req.For < 0 {
			writeJSONError(w, http.StatusBadRequest, fmt.Errorf("want a group and a non-negative duration, got group %q for %v", req.Group, time.Duration(req.For)))
			return
		}
		s.SetReportedStatus(req.Group, req.Status, time.Duration(req.For))
		writeJSON(w, http.StatusOK, req)
	case "DELETE /reported-status":
		s.ClearReportedStatuses()
		w.WriteHeader(http.StatusNoContent)
	case "GET /stacks":
		writeJSON(w, http.StatusOK, s.Stacks())
	case "POST /account-limits":
		var req struct {
			MaxGroups               int `json:"max_groups"`
			MaxLaunchConfigurations int `json:"max_launch_configurations"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		s.SetAccountLimits(req.MaxGroups, req.MaxLaunchConfigurations)
		writeJSON(w, http.StatusOK, req)
	default:
		writeJSONError(w, http.StatusNotFound, fmt.Errorf("no control endpoint %s %s", r.Method, r.URL.Path))
	}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Errorf("reading JSON body: %w", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func writeJSONError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	data, _ := json.Marshal(map[string]string{"error": err.Error()})
	_, _ = w.Write(append(data, '\n'))
}
