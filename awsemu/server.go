package awsemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures Start.
type Options struct {
	MotoCommand string                           // moto's command line; default "moto_server"
	Speed       float64                          // emulated seconds per real second; default 1
	Logf        func(format string, args ...any) // optional debug log (moto's output included)
	// Port is the front server's port on 127.0.0.1; 0 picks a free one.
	Port int
	// AnyMotoVersion runs whatever moto is installed instead of refusing
	// one other than MotoVersion.
	AnyMotoVersion bool
}

// maxBodyBytes bounds the request bodies the emulator buffers.
const maxBodyBytes = 64 << 20

// Server is a running emulator: moto plus the front server.
type Server struct {
	opts   Options
	moto   *motoProcess
	api    *motoAPI
	clock  *clock
	engine *engine
	faults *faultSet
	calls  callLog
	lt     *ltVersions
	images *imageProtection
	ltDel  *ltDeletions // deleted launch template versions (ltdelete.go)
	ssm    ssmParams    // aws:ec2:image parameters (ssm.go)
	lb     *lbHider
	cfn    *cfnStacks     // CloudFormation stacks the emulator carries out (cfn.go)
	health *healthTracker // load balancer health (targethealth.go)
	groups *groupStore    // per-group settings moto lacks (deletionprotection.go)
	proxy  *httputil.ReverseProxy
	// gate serializes every request to moto (see motogate.go).
	gate *motoGate
	// transport carries every request to moto, behind gate, so that Close
	// can drop its idle connections.
	transport *http.Transport
	target    *url.URL
	http      *http.Server
	url       string

	closeOnce sync.Once
	closeErr  error
}

// Start starts moto on a free loopback port in its own process group, waits
// until it answers, and starts the front server on 127.0.0.1. ctx bounds the
// start only; the emulator runs until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.MotoCommand == "" {
		opts.MotoCommand = "moto_server"
	}
	if opts.Speed <= 0 {
		opts.Speed = 1
	}
	if !opts.AnyMotoVersion {
		if err := checkMotoVersion(ctx, opts.MotoCommand, opts.Logf); err != nil {
			return nil, err
		}
	}
	moto, err := startMoto(ctx, opts.MotoCommand, opts.Logf)
	if err != nil {
		return nil, fmt.Errorf("starting moto: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(opts.Port))
	if err != nil {
		moto.stop()
		return nil, fmt.Errorf("starting the front server: %w", err)
	}
	target, err := url.Parse(moto.url)
	if err != nil {
		moto.stop()
		_ = ln.Close()
		return nil, fmt.Errorf("parsing moto's URL: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	gate := newMotoGate(transport)
	s := &Server{
		opts:      opts,
		moto:      moto,
		api:       newMotoAPI(moto.url, gate),
		gate:      gate,
		transport: transport,
		clock:     newClock(opts.Speed, nil),
		faults:    newFaultSet(),
		lt:        newLTVersions(),
		images:    newImageProtection(),
		ltDel:     newLTDeletions(),
		groups:    newGroupStore(),
		target:    target,
		url:       "http://" + ln.Addr().String(),
	}
	s.engine = newEngine(s.clock, s.api, opts.Logf)
	s.lb = newLBHider(s.api, s.logf)
	s.cfn = newCFNStacks(s)
	gate.after = s.lb.after
	s.health = newHealthTracker(s.clock, s.engine, s.api, s.lb.isHidden, s.logf)
	gate.after = func(ctx context.Context, req *http.Request, form url.Values, status int) {
		s.lb.after(ctx, req, form, status)
		s.health.after(ctx, req, form, status)
	}
	s.proxy = &httputil.ReverseProxy{
		Transport: gate,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // headers stay as the client signed them
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.logf("proxying to moto: %v", err)
			writeServiceError(w, serviceOf(r), &apiError{Status: http.StatusBadGateway, Code: "InternalFailure", Message: "moto did not answer: " + err.Error()})
		},
	}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("front server: %v", err)
		}
	}()
	s.logf("awsemu at %s in front of moto at %s, speed %v", s.url, moto.url, opts.Speed)
	return s, nil
}

// URL returns the front server's address, "http://127.0.0.1:PORT": the
// endpoint for EC2, Auto Scaling and anything else moto serves.
func (s *Server) URL() string { return s.url }

// MotoURL returns moto's own address, which bypasses the emulator's
// additions, faults and call log.
func (s *Server) MotoURL() string { return s.moto.url }

// Close stops the refresh workers, the front server and moto's whole process
// group. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// New requests stop first, so that none can start a worker;
		// then the workers, which call moto; then moto.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			_ = s.http.Close() // cut requests still in flight (slow faults)
		}
		s.engine.stop()
		s.ssm.close() // delayed parameter writes (ssm.go)
		s.transport.CloseIdleConnections()
		s.moto.stop()
	})
	return s.closeErr
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// handledActions are the actions the emulator answers itself or adjusts,
// by service. Requests without a SigV4 scope are routed by action alone.
var handledActions = map[string]string{
	"StartInstanceRefresh":        serviceAutoScaling,
	"DescribeInstanceRefreshes":   serviceAutoScaling,
	"CancelInstanceRefresh":       serviceAutoScaling,
	"RollbackInstanceRefresh":     serviceAutoScaling,
	"DescribeScalingActivities":   serviceAutoScaling,
	"CreateLaunchTemplateVersion": serviceEC2,

	"EnableImageDeregistrationProtection":  serviceEC2,
	"DisableImageDeregistrationProtection": serviceEC2,
	"DescribeImages":                       serviceEC2,
	"DeregisterImage":                      serviceEC2,
	"RegisterImage":                        serviceEC2,

	"DeleteLaunchTemplateVersions":   serviceEC2,
	"DescribeLaunchTemplateVersions": serviceEC2,
	"DescribeLaunchTemplates":        serviceEC2,
	"ModifyLaunchTemplate":           serviceEC2,
	"DescribeImageReferences":        serviceEC2,
	"RunInstances":                   serviceEC2,

	"DescribeTargetHealth":   serviceELB,
	"DescribeInstanceHealth": serviceELB,
}

func serviceOf(r *http.Request) string {
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[4]
	}
	return ""
}

// ServeHTTP logs the request, applies any matching fault, and then answers
// it or forwards it to moto.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.serveControl(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, "reading request body: "+err.Error(), status)
		return
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body)) // buffered: parsed here, forwarded intact
	q := parseQueryRequest(r, body)
	if q.Service == "" {
		q.Service = handledActions[q.Action]
	}

	// Faults hit the requests that act: a DryRun (which only checks
	// permissions) is answered without one, so that a fault aimed at an
	// action reaches the call that does it.
	var fault Fault
	var faulted bool
	if !isDryRun(q) {
		fault, faulted = s.faults.pick(q.Service, q.Action)
	}
	call := Call{Time: time.Now(), Service: q.Service, Region: q.Region, Action: q.Action, Params: q.params()}
	if faulted {
		call.Fault = fault.Kind
	}
	s.calls.add(call)
	if faulted {
		s.logf("fault %s on %s %s", fault.Kind, q.Service, q.Action)
		switch fault.Kind {
		case FaultThrottle, Fault5xx:
			writeServiceError(w, q.Service, s.faults.errorFor(fault.Kind, q.Service))
			return
		case FaultDrop:
			closeWithoutAnswer(w)
			return
		case FaultSlow:
			select {
			case <-time.After(time.Duration(fault.Delay)):
			case <-r.Context().Done():
				return
			}
		case FaultLoseResponse:
			s.dispatch(&discardWriter{}, r, q)
			closeWithoutAnswer(w)
			return
		}
	}
	s.dispatch(w, r, q)
}

// dispatch answers a request: the emulator's own actions here, the rest
// by moto.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, q *queryRequest) {
	ctx := r.Context()
	switch q.Service {
	case serviceAutoScaling:
		var result *xmlNode
		var aerr *apiError
		switch q.Action {
		case "StartInstanceRefresh":
			result, aerr = s.engine.startInstanceRefresh(ctx, q)
		case "DescribeInstanceRefreshes":
			result, aerr = s.engine.describeInstanceRefreshes(q)
		case "CancelInstanceRefresh":
			result, aerr = s.engine.cancelInstanceRefresh(q)
		case "RollbackInstanceRefresh":
			result, aerr = s.engine.rollbackInstanceRefresh(q)
		case "DescribeScalingActivities":
			result, aerr = s.engine.describeScalingActivities(q)
		case "UpdateAutoScalingGroup":
			if aerr := s.engine.blocksConfigUpdate(q); aerr != nil {
				writeASGError(w, aerr)
				return
			}
			s.forwardRecordingWarmup(w, r, q)
			return
		case "CreateAutoScalingGroup":
			s.forwardRecordingWarmup(w, r, q)
			return
		case "DeleteAutoScalingGroup":
			s.deleteGroup(w, r, q)
			return
		case "DescribeAutoScalingGroups", "DescribeAutoScalingInstances":
			s.forwardCorrectingTemplates(w, r, q)
			return
		default:
			if s.serveScaling(w, r, q) || s.serveGroupExtras(w, r, q) {
				return
			}
			s.proxy.ServeHTTP(w, r)
			return
		}
		if aerr != nil {
			writeASGError(w, aerr)
			return
		}
		writeASGResult(w, q.Action, result)
		return
	case serviceCloudFormation:
		if s.cfn.serve(w, r, q) {
			return
		}
	case serviceELB:
		switch q.Action {
		case "DescribeTargetHealth":
			s.describeTargetHealth(w, r, q)
			return
		case "DescribeInstanceHealth":
			s.describeInstanceHealth(w, r, q)
			return
		}
	case serviceEC2:
		forward := func(body []byte) (*capturedResponse, error) { return s.forward(r, body) }
		switch q.Action {
		case "CreateLaunchTemplateVersion":
			mc := s.api.clientsFor(q.Region, q.AccessKey)
			if aerr := s.ltDel.checkNamed(ctx, mc, q, "", "SourceVersion"); aerr != nil {
				writeEC2Error(w, aerr) // a deleted source version (ltdelete.go)
				return
			}
			answer, aerr := s.lt.createVersion(ctx, mc, q, forward)
			if aerr != nil {
				writeEC2Error(w, aerr)
				return
			}
			answer.write(w)
			return
		case "EnableImageDeregistrationProtection", "DisableImageDeregistrationProtection":
			mc := s.api.clientsFor(q.Region, q.AccessKey)
			change := s.images.enable
			if q.Action == "DisableImageDeregistrationProtection" {
				change = s.images.disable
			}
			state, aerr := change(ctx, mc, q)
			if aerr != nil {
				writeEC2Error(w, aerr)
				return
			}
			writeEC2Result(w, q.Action, leaf("return", state))
			return
		case "DeregisterImage":
			mc := s.api.clientsFor(q.Region, q.AccessKey)
			answer, aerr := s.images.deregister(q, deletingSnapshots(ctx, mc, q, forward))
			if aerr != nil {
				writeEC2Error(w, aerr)
				return
			}
			answer.write(w)
			return
		case "RunInstances":
			if aerr := s.ltDel.checkNamed(ctx, s.api.clientsFor(q.Region, q.AccessKey), q, "LaunchTemplate.", "LaunchTemplate.Version"); aerr != nil {
				writeEC2Error(w, aerr) // a deleted version (ltdelete.go)
				return
			}
			answer, aerr := forwardAnswer(forward, q.Body) // $Latest may have been corrected
			if aerr != nil {
				writeEC2Error(w, aerr)
				return
			}
			answer.write(w)
			return
		case "DeleteLaunchTemplateVersions", "DescribeLaunchTemplateVersions", "DescribeLaunchTemplates", "ModifyLaunchTemplate", "DescribeImageReferences":
			s.serveTemplateVersionsAndReferences(w, r, q) // ltdelete.go, imagereferences.go
			return
		case "RegisterImage":
			answer, err := s.forward(r, q.Body)
			if err != nil {
				writeEC2Error(w, toAPIError(err))
				return
			}
			if answer.Status == http.StatusOK {
				s.engine.recordImageVolumes(q.Region, q.Form, answer.Body)
			}
			answer.write(w)
			return
		case "DescribeImages":
			answer, err := s.forward(r, q.Body)
			if err != nil {
				writeEC2Error(w, toAPIError(err))
				return
			}
			if answer.Status == http.StatusOK {
				answer.Body = s.images.correctDescribeImages(q.Region, answer.Body)
			}
			answer.write(w)
			return
		}
	}
	if q.Service == serviceSSM && q.Action == "PutParameter" {
		s.servePutParameter(w, r, q) // ssm.go
		return
	}
	s.proxy.ServeHTTP(w, r)
}

// forwardRecordingWarmup forwards a group create or update to moto and, if
// it succeeded, keeps the DefaultInstanceWarmup and the instance
// maintenance policy that moto drops. A policy AWS would refuse is refused
// before moto sees the request.
func (s *Server) forwardRecordingWarmup(w http.ResponseWriter, r *http.Request, q *queryRequest) {
	if _, _, aerr := checkMaintenancePolicy(q.Form); aerr != nil {
		writeASGError(w, aerr)
		return
	}
	if aerr := checkProtection(q.Form); aerr != nil {
		writeASGError(w, aerr)
		return
	}
	if q.Action == "CreateAutoScalingGroup" {
		if aerr := s.checkLimits(r.Context(), q); aerr != nil {
			writeASGError(w, aerr)
			return
		}
	}
	answer, err := s.forward(r, q.Body)
	if err != nil {
		writeASGError(w, toAPIError(err))
		return
	}
	if answer.Status == http.StatusOK {
		s.engine.recordDefaultWarmup(q.Region, q.Form)
		s.engine.recordMaintenancePolicy(q.Region, q.Form)
		s.groups.recordProtection(q.Region, q.Form)
		if q.Action == "CreateAutoScalingGroup" {
			s.createSpecifiedHooks(r.Context(), q)
		}
	}
	answer.write(w)
}

// forwardCorrectingTemplates forwards a describe call and corrects the
// launch template versions moto reports for the instances the emulator
// launched (see asgview.go).
func (s *Server) forwardCorrectingTemplates(w http.ResponseWriter, r *http.Request, q *queryRequest) {
	answer, err := s.forward(r, q.Body)
	if err != nil {
		writeASGError(w, toAPIError(err))
		return
	}
	if answer.Status == http.StatusOK {
		answer.Body = rewriteInstanceTemplates(answer.Body, func(id string) (origin, bool) {
			return s.engine.originOf(q.Region, id)
		})
		if q.Action == "DescribeAutoScalingGroups" {
			answer.Body = addDefaultWarmups(answer.Body, func(group string) (int, bool) {
				return s.engine.warmupOf(q.Region, group)
			})
			answer.Body = addMaintenancePolicies(answer.Body, func(group string) (maintenancePolicy, bool) {
				return s.engine.policyOf(groupKey{Region: q.Region, Name: group})
			})
			answer.Body = addDeletionProtection(answer.Body, func(group string) string {
				return s.groups.protectionOf(groupKey{Region: q.Region, Name: group})
			})
		}
	}
	answer.write(w)
}

// forward sends the client's request to moto with the given body, headers
// otherwise unchanged, and returns moto's complete answer.
func (s *Server) forward(r *http.Request, body []byte) (*capturedResponse, error) {
	u := *s.target
	u.Path = r.URL.Path
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the request to moto: %w", err)
	}
	out.Header = r.Header.Clone()
	out.Header.Del("Content-Length")
	out.ContentLength = int64(len(body))
	out.Host = r.Host
	resp, err := s.api.http.Do(out)
	if err != nil {
		return nil, fmt.Errorf("forwarding %s to moto: %w", r.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading moto's answer: %w", err)
	}
	return &capturedResponse{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}
