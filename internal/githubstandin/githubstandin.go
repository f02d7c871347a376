// Package githubstandin is a loopback stand-in for the parts of GitHub that
// `packer init` uses to install a plugin, so that installation from a
// release can be tested without a network.
//
// Packer reaches it as it reaches GitHub: through HTTPS_PROXY, with TLS for
// the real host names, trusted through SSL_CERT_FILE (see Environ). The
// proxy accepts CONNECT to api.github.com, github.com and
// releases.hashicorp.com only, and terminates TLS itself with a leaf
// certificate for those names signed by a CA made at Start.
//
// It serves what packer v1.16.0's GitHub getter asks for:
//
//	GET https://api.github.com/repos/OWNER/REPO/git/matching-refs/tags
//	GET https://github.com/OWNER/REPO/releases/download/TAG/FILE
//
// and answers 404 to GET https://releases.hashicorp.com/packer-plugin-NAME/index.json,
// as HashiCorp's release site does for a plugin it does not publish: packer
// asks it first for every plugin and goes on to GitHub on an HTTP error.
//
// Anything else is refused (a 403 to the CONNECT, a 404 or 405 to the
// request) and listed by Refused, so a test can fail on it. Every request
// is recorded (Requests), so a test can assert what was downloaded.
package githubstandin

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Hosts are the names the stand-in answers for.
var Hosts = []string{"api.github.com", "github.com", "releases.hashicorp.com"}

// Release is one tag of the repository and the files of its GitHub
// release.
type Release struct {
	Tag   string            // such as v0.1.0
	Files map[string]string // asset name -> path of the local file to serve
}

// Request is one request the stand-in received.
type Request struct {
	Method string
	URL    string // https://host/path, or host:port for a CONNECT
	Status int    // what the stand-in answered
}

func (r Request) String() string { return fmt.Sprintf("%s %s -> %d", r.Method, r.URL, r.Status) }

// Server is a running stand-in.
type Server struct {
	repo     string // OWNER/REPO
	releases []Release
	dir      string
	caFile   string
	proxy    *http.Server
	proxyURL string
	tunnels  *connListener
	origin   *http.Server

	mu       sync.Mutex
	requests []Request
	refused  []Request
}

// Start starts a stand-in for the GitHub repository repo (OWNER/REPO) with
// the given releases, on loopback. Close stops it.
func Start(repo string, releases ...Release) (*Server, error) {
	if strings.Count(repo, "/") != 1 {
		return nil, fmt.Errorf("repository %q is not OWNER/REPO", repo)
	}
	dir, err := os.MkdirTemp("", "githubstandin-")
	if err != nil {
		return nil, err
	}
	s := &Server{repo: repo, releases: releases, dir: dir, caFile: filepath.Join(dir, "ca.pem")}
	cert, err := s.makeCertificates()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("making the stand-in's certificates: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.proxyURL = "http://" + ln.Addr().String()
	s.tunnels = newConnListener(ln.Addr())
	s.origin = &http.Server{
		Handler:           http.HandlerFunc(s.serveOrigin),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: time.Minute,
	}
	s.proxy = &http.Server{Handler: http.HandlerFunc(s.serveProxy), ReadHeaderTimeout: time.Minute}
	go s.origin.ServeTLS(s.tunnels, "", "")
	go s.proxy.Serve(ln)
	return s, nil
}

// Environ is what a process needs to reach the stand-in in place of
// GitHub: the proxy, and the CA as its only trusted root.
func (s *Server) Environ() []string {
	return []string{"HTTPS_PROXY=" + s.proxyURL, "SSL_CERT_FILE=" + s.caFile}
}

// CAFile is the path of the PEM file holding the stand-in's CA.
func (s *Server) CAFile() string { return s.caFile }

// ProxyURL is the proxy's address, such as http://127.0.0.1:41234.
func (s *Server) ProxyURL() string { return s.proxyURL }

// Requests returns every request received so far, in order, refused ones
// included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Refused returns the requests for something the stand-in does not serve.
func (s *Server) Refused() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.refused...)
}

// Close stops the stand-in and removes its CA.
func (s *Server) Close() error {
	err := errors.Join(s.proxy.Close(), s.origin.Close())
	return errors.Join(err, os.RemoveAll(s.dir))
}

func (s *Server) record(r Request, served bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
	if !served {
		s.refused = append(s.refused, r)
	}
}

// serveProxy accepts a CONNECT to one of Hosts and hands the tunnel to the
// TLS server; it refuses any other host and any plain proxied request.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if r.Method != http.MethodConnect || err != nil || port != "443" || !isHost(host) {
		target := r.RequestURI // the absolute URL of a plain proxied request
		if r.Method == http.MethodConnect {
			target = r.Host
		}
		s.record(Request{Method: r.Method, URL: target, Status: http.StatusForbidden}, false)
		http.Error(w, "the GitHub stand-in tunnels only to "+strings.Join(Hosts, ", ")+" on port 443", http.StatusForbidden)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.record(Request{Method: r.Method, URL: r.Host, Status: http.StatusOK}, true)
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		conn.Close()
		return
	}
	if !s.tunnels.push(&bufferedConn{Conn: conn, r: rw.Reader}) {
		conn.Close()
	}
}

// serveOrigin answers a request that came through a tunnel, as the host
// it names.
func (s *Server) serveOrigin(w http.ResponseWriter, r *http.Request) {
	url := "https://" + r.Host + r.URL.Path
	status, body, file := s.route(r)
	s.record(Request{Method: r.Method, URL: url, Status: status}, status != 0)
	switch {
	case status == 0:
		http.Error(w, "the GitHub stand-in does not serve "+r.Method+" "+url, http.StatusNotFound)
	case file != "":
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeFile(w, r, file)
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		w.Write(body)
	}
}

// route says how to answer r: a status and either a body or a file to
// serve; status 0 for a request it does not serve.
func (s *Server) route(r *http.Request) (status int, body []byte, file string) {
	if r.Method != http.MethodGet {
		return 0, nil, ""
	}
	_, name, _ := strings.Cut(s.repo, "/")
	switch r.Host {
	case "api.github.com":
		if r.URL.Path == "/repos/"+s.repo+"/git/matching-refs/tags" {
			return http.StatusOK, s.tags(), ""
		}
	case "github.com":
		tag, asset, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"+s.repo+"/releases/download/"), "/")
		if !ok || !strings.HasPrefix(r.URL.Path, "/"+s.repo+"/releases/download/") {
			return 0, nil, ""
		}
		for _, rel := range s.releases {
			if f, found := rel.Files[asset]; found && rel.Tag == tag {
				return http.StatusOK, nil, f
			}
		}
	case "releases.hashicorp.com":
		plugin := "packer-plugin-" + strings.TrimPrefix(name, "packer-plugin-")
		if r.URL.Path == "/"+plugin+"/index.json" {
			return http.StatusNotFound, []byte(`{"message":"Not Found"}`), ""
		}
	}
	return 0, nil, ""
}

// tags is the body of GitHub's matching-refs answer: one ref per release,
// in GitHub's shape (packer reads only ref).
func (s *Server) tags() []byte {
	type object struct {
		SHA  string `json:"sha"`
		Type string `json:"type"`
		URL  string `json:"url"`
	}
	type ref struct {
		Ref    string `json:"ref"`
		NodeID string `json:"node_id"`
		URL    string `json:"url"`
		Object object `json:"object"`
	}
	refs := []ref{}
	for i, rel := range s.releases {
		sha := fmt.Sprintf("%040x", i+1)
		refs = append(refs, ref{
			Ref:    "refs/tags/" + rel.Tag,
			NodeID: "REF_" + rel.Tag,
			URL:    "https://api.github.com/repos/" + s.repo + "/git/refs/tags/" + rel.Tag,
			Object: object{SHA: sha, Type: "commit", URL: "https://api.github.com/repos/" + s.repo + "/git/commits/" + sha},
		})
	}
	b, _ := json.Marshal(refs)
	return b
}

func isHost(h string) bool {
	for _, x := range Hosts {
		if h == x {
			return true
		}
	}
	return false
}

// makeCertificates makes a CA, writes it to caFile, and returns a leaf
// certificate it signed for every name in Hosts.
func (s *Server) makeCertificates() (tls.Certificate, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "GitHub stand-in test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: Hosts[0]},
		DNSNames:     Hosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}, nil
}

// connListener is a net.Listener whose connections are the proxy's
// tunnels.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to Accept; false once the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// bufferedConn reads first what the proxy's reader had already buffered
// from the client.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
