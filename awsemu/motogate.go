package awsemu

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// This file serializes what reaches moto. moto's threaded server is not safe
// under concurrent mutation: a DescribeInstances answered while instances
// are being terminated can come back as HTTP 500 with a malformed XML body.
// A client cannot tell such a 500 from a real fault, and CI once failed on
// one, so every request to moto (proxied, forwarded, or the emulator's own
// SDK and raw calls) passes through one gate and moto handles one request
// at a time.
//
// The gate is held for one round trip only, answer body included, never
// while the emulator's own logic runs, so a handler that calls moto several
// times cannot deadlock on it. Where several calls must happen as one step
// (see exclusive), the context carries the gate and the calls made with it
// do not wait for it again.

// motoGate is the http.RoundTripper in front of moto's transport.
type motoGate struct {
	next http.RoundTripper
	sem  chan struct{} // one slot: held while a request is at moto
	// after, if set, runs once moto has answered a request, still holding
	// the gate: it sees the state the request left and can act on it before
	// any other request reaches moto. ctx lets it call moto itself.
	after func(ctx context.Context, req *http.Request, form url.Values, status int)
}

// gateHeld marks a context whose holder owns the gate.
type gateHeld struct{}

func newMotoGate(next http.RoundTripper) *motoGate {
	return &motoGate{next: next, sem: make(chan struct{}, 1)}
}

// holding reports whether ctx already owns the gate.
func holding(ctx context.Context) bool { return ctx.Value(gateHeld{}) != nil }

// acquire waits for the gate, or for ctx to end.
func (g *motoGate) acquire(ctx context.Context) error {
	select {
	case g.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *motoGate) release() { <-g.sem }

// exclusive runs f holding the gate; calls to moto made with the context f
// receives go through without waiting for it. If ctx holds the gate already
// f runs at once.
func (g *motoGate) exclusive(ctx context.Context, f func(ctx context.Context) error) error {
	if holding(ctx) {
		return f(ctx)
	}
	if err := g.acquire(ctx); err != nil {
		return err
	}
	defer g.release()
	return f(context.WithValue(ctx, gateHeld{}, true))
}

// RoundTrip sends req to moto once no other request is there, and reads
// the whole answer before letting the next one in: moto may still be
// writing the body of a response whose headers arrived.
func (g *motoGate) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	if !holding(ctx) {
		if err := g.acquire(ctx); err != nil {
			return nil, err
		}
		defer g.release()
		ctx = context.WithValue(ctx, gateHeld{}, true)
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	resp.TransferEncoding = nil
	if g.after != nil {
		form := url.Values{}
		for k, v := range req.URL.Query() {
			form[k] = v
		}
		if vals, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range vals {
				form[k] = append(form[k], v...)
			}
		}
		g.after(ctx, req, form, resp.StatusCode)
	}
	return resp, nil
}
