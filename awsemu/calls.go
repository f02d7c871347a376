package awsemu

import (
	"sync"
	"time"
)

// Call is one request that reached the front server (control requests under
// /_emu/ excepted), as tests inspect it: which API was called, with what, and
// which fault, if any, was applied to it.
type Call struct {
	Time    time.Time         `json:"time"` // real (not emulated) arrival time
	Service string            `json:"service"`
	Region  string            `json:"region"`
	Action  string            `json:"action"`
	Params  map[string]string `json:"params"` // decoded form values, one value per key
	Fault   string            `json:"fault"`  // kind of the fault applied, "" if none
}

// maxCalls bounds the call log so that a long demo cannot exhaust memory;
// the oldest calls are dropped first.
const maxCalls = 100_000

type callLog struct {
	mu    sync.Mutex
	calls []Call
}

func (l *callLog) add(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) >= maxCalls {
		l.calls = append(l.calls[:0:0], l.calls[len(l.calls)-maxCalls+1:]...)
	}
	l.calls = append(l.calls, c)
}

func (l *callLog) list() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

func (l *callLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}
