package awsemu

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault kinds. Each reproduces a failure a client of AWS must survive.
const (
	// FaultThrottle answers as AWS does when a caller exceeds its request
	// rate: HTTP 400 Throttling (Auto Scaling) or HTTP 503
	// RequestLimitExceeded (EC2). The request is not performed.
	FaultThrottle = "throttle"
	// Fault5xx answers HTTP 500 InternalFailure or 503 ServiceUnavailable
	// (alternately; EC2 uses its codes InternalError and Unavailable). The
	// request is not performed.
	Fault5xx = "5xx"
	// FaultDrop closes the connection without answering; the request is not
	// performed.
	FaultDrop = "drop"
	// FaultSlow waits Delay (real time) and then performs the request.
	FaultSlow = "slow"
	// FaultLoseResponse performs the request and then closes the connection
	// without answering: the client cannot tell whether its call took effect.
	FaultLoseResponse = "lose-response"
)

// Fault makes matching requests fail in one of the ways above. Faults apply to
// every request that reaches the front server, handled or proxied, but not to
// the emulator's own calls to moto.
type Fault struct {
	Service string   `json:"service"` // "autoscaling", "ec2", "" = any
	Action  string   `json:"action"`  // e.g. "StartInstanceRefresh", "" = any
	Kind    string   `json:"kind"`    // one of the Fault* kinds
	Rate    float64  `json:"rate"`    // probability per matching request, 0..1 (0 means 1)
	Count   int      `json:"count"`   // apply at most Count times (0 = unlimited)
	Delay   Duration `json:"delay"`   // for "slow"
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1.5s"); a JSON number is read as nanoseconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("parsing duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"2s\" or a number of nanoseconds: %w", err)
	}
	*d = Duration(n)
	return nil
}

// validate reports whether f can ever apply.
func (f Fault) validate() error {
	switch f.Kind {
	case FaultThrottle, Fault5xx, FaultDrop, FaultSlow, FaultLoseResponse:
	default:
		return fmt.Errorf("unknown fault kind %q (want throttle, 5xx, drop, slow or lose-response)", f.Kind)
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("fault rate %v is outside 0..1", f.Rate)
	}
	if f.Count < 0 {
		return fmt.Errorf("fault count %d is negative", f.Count)
	}
	if f.Delay < 0 {
		return fmt.Errorf("fault delay %v is negative", time.Duration(f.Delay))
	}
	return nil
}

func (f Fault) matches(service, action string) bool {
	return (f.Service == "" || strings.EqualFold(f.Service, service)) &&
		(f.Action == "" || f.Action == action)
}

// faultSet holds the active faults. The first matching fault whose rate roll
// succeeds applies; one with a Count is removed once used up.
type faultSet struct {
	mu      sync.Mutex
	faults  []*faultState
	rng     *rand.Rand
	next503 bool // Fault5xx alternates between 500 and 503
}

type faultState struct {
	Fault
	used int
}

func newFaultSet() *faultSet {
	return &faultSet{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

func (fs *faultSet) add(f Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = append(fs.faults, &faultState{Fault: f})
}

func (fs *faultSet) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = nil
}

func (fs *faultSet) list() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.faults))
	for _, f := range fs.faults {
		out = append(out, f.Fault)
	}
	return out
}

// pick returns the fault to apply to a request, if any.
func (fs *faultSet) pick(service, action string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.faults {
		if f.validate() != nil || !f.matches(service, action) {
			continue
		}
		rate := f.Rate
		if rate == 0 {
			rate = 1
		}
		if rate < 1 && fs.rng.Float64() >= rate {
			continue
		}
		f.used++
		if f.Count > 0 && f.used >= f.Count {
			fs.faults = append(fs.faults[:i:i], fs.faults[i+1:]...)
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// errorFor returns the error answer of a throttle or 5xx fault.
func (fs *faultSet) errorFor(kind, service string) *apiError {
	if kind == FaultThrottle {
		if service == serviceEC2 {
			return &apiError{Status: http.StatusServiceUnavailable, Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Sender: true}
		}
		return &apiError{Status: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded", Sender: true}
	}
	fs.mu.Lock()
	unavailable := fs.next503
	fs.next503 = !fs.next503
	fs.mu.Unlock()
	switch {
	case unavailable && service == serviceEC2:
		return &apiError{Status: http.StatusServiceUnavailable, Code: "Unavailable", Message: "The server is overloaded and can't handle the request."}
	case unavailable:
		return &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "Service is unavailable. Please try again later."}
	case service == serviceEC2:
		return &apiError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "An internal error has occurred."}
	default:
		return &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure."}
	}
}

// discardWriter stands in for the client's ResponseWriter when the answer is
// to be lost: the request is performed, its answer thrown away.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header {
	if d.header == nil {
		d.header = http.Header{}
	}
	return d.header
}
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// closeWithoutAnswer hijacks the connection and closes it, so the client sees
// the connection end without any HTTP response.
func closeWithoutAnswer(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	conn, _, err := rc.Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the handler, which resets the stream.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
