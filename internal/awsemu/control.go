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

// SetUnhealthyImages makes instances that instance refreshes launch from
// these AMIs fail their health checks after warm-up. It replaces the
// previous set; no arguments clear it.
func (s *Server) SetUnhealthyImages(amiIDs ...string) {
	s.engine.setUnhealthyImages(amiIDs)
}

// SetUnhealthyImageTag makes instances that instance refreshes launch from
// AMIs tagged key=value fail their health checks, in addition to the images
// of SetUnhealthyImages: a test can mark the AMI a build is about to make
// by the tags it will carry. It replaces the previous tag; an empty key
// clears it.
func (s *Server) SetUnhealthyImageTag(key, value string) {
	s.engine.setUnhealthyImageTag(key, value)
}

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
