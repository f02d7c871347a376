package githubstandin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// start runs a stand-in for owner/plugin with one release holding one
// file, and returns it with a client that reaches it the way packer does:
// through the proxy, trusting only the stand-in's CA.
func start(t *testing.T) (*Server, *http.Client) {
	t.Helper()
	asset := filepath.Join(t.TempDir(), "sums")
	if err := os.WriteFile(asset, []byte("abc  plugin.zip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Start("owner/packer-plugin-thing", Release{Tag: "v1.2.3", Files: map[string]string{"thing_SHA256SUMS": asset}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the CA file")
	}
	proxy, _ := url.Parse(s.ProxyURL())
	client := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(proxy),
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	t.Cleanup(client.CloseIdleConnections)
	return s, client
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServesTagsAndDownloads(t *testing.T) {
	s, c := start(t)

	status, body := get(t, c, "https://api.github.com/repos/owner/packer-plugin-thing/git/matching-refs/tags")
	var refs []struct{ Ref string }
	if err := json.Unmarshal([]byte(body), &refs); status != 200 || err != nil {
		t.Fatalf("tags answered %d %q (%v)", status, body, err)
	}
	if len(refs) != 1 || refs[0].Ref != "refs/tags/v1.2.3" {
		t.Errorf("tags %+v, want the one ref refs/tags/v1.2.3", refs)
	}

	status, body = get(t, c, "https://github.com/owner/packer-plugin-thing/releases/download/v1.2.3/thing_SHA256SUMS")
	if status != 200 || body != "abc  plugin.zip\n" {
		t.Errorf("download answered %d %q, want the file", status, body)
	}

	if status, _ := get(t, c, "https://releases.hashicorp.com/packer-plugin-thing/index.json"); status != 404 {
		t.Errorf("HashiCorp's index of the plugin answered %d, want 404 (not published there)", status)
	}

	if r := s.Refused(); len(r) != 0 {
		t.Errorf("refused %v", r)
	}
	var got []string
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet {
			got = append(got, r.String())
		}
	}
	want := []string{
		"GET https://api.github.com/repos/owner/packer-plugin-thing/git/matching-refs/tags -> 200",
		"GET https://github.com/owner/packer-plugin-thing/releases/download/v1.2.3/thing_SHA256SUMS -> 200",
		"GET https://releases.hashicorp.com/packer-plugin-thing/index.json -> 404",
	}
	if !slices.Equal(got, want) {
		t.Errorf("recorded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRefusesWhatItDoesNotServe(t *testing.T) {
	for _, u := range []string{
		"https://github.com/owner/packer-plugin-thing/releases/download/v1.2.3/other.zip",
		"https://github.com/owner/packer-plugin-thing/releases/download/v9.9.9/thing_SHA256SUMS",
		"https://github.com/someone/else/releases/download/v1.2.3/thing_SHA256SUMS",
		"https://api.github.com/repos/owner/packer-plugin-thing/releases",
		"https://releases.hashicorp.com/packer-plugin-other/index.json",
	} {
		t.Run(u, func(t *testing.T) {
			s, c := start(t)
			if status, _ := get(t, c, u); status != http.StatusNotFound {
				t.Errorf("answered %d, want 404", status)
			}
			if r := s.Refused(); len(r) != 1 || r[0].URL != u {
				t.Errorf("refused %v, want just GET %s", r, u)
			}
		})
	}

	t.Run("another method", func(t *testing.T) {
		s, c := start(t)
		resp, err := c.Post("https://api.github.com/repos/owner/packer-plugin-thing/git/matching-refs/tags", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || len(s.Refused()) != 1 {
			t.Errorf("POST answered %d, refused %v", resp.StatusCode, s.Refused())
		}
	})

	t.Run("another host", func(t *testing.T) {
		s, c := start(t)
		if _, err := c.Get("https://example.com/"); err == nil {
			t.Error("a tunnel to example.com was opened")
		}
		if r := s.Refused(); len(r) != 1 || r[0].Method != http.MethodConnect || r[0].URL != "example.com:443" {
			t.Errorf("refused %v, want the CONNECT to example.com:443", r)
		}
	})

	t.Run("plain HTTP", func(t *testing.T) {
		s, c := start(t)
		if status, _ := get(t, c, "http://github.com/owner/packer-plugin-thing/releases/download/v1.2.3/thing_SHA256SUMS"); status != http.StatusForbidden {
			t.Errorf("a plain proxied request answered %d, want 403", status)
		}
		if r := s.Refused(); len(r) != 1 || r[0].Method != http.MethodGet {
			t.Errorf("refused %v, want the plain GET", r)
		}
	})
}
