package nsqtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// AuthServer is a fake nsqd auth server (for nsqd --auth-http-address): one
// secret is valid and grants publish and subscribe on every topic/channel.
type AuthServer struct {
	Addr     string // host:port, for --auth-http-address
	Secret   string
	Identity string

	mu       sync.Mutex
	requests []map[string]string
}

// StartAuthServer starts the fake auth server; it stops with the test.
func StartAuthServer(t testing.TB, secret, identity string) *AuthServer {
	a := &AuthServer{Secret: secret, Identity: identity}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.Addr = srv.Listener.Addr().String()
	return a
}

func (a *AuthServer) serve(w http.ResponseWriter, r *http.Request) {
	q := map[string]string{}
	for k := range r.URL.Query() {
		q[k] = r.URL.Query().Get(k)
	}
	a.mu.Lock()
	a.requests = append(a.requests, q)
	a.mu.Unlock()
	if r.URL.Path != "/auth" || q["secret"] != a.Secret {
		http.Error(w, "denied", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"ttl":          3600,
		"identity":     a.Identity,
		"identity_url": "https://example.invalid/" + a.Identity,
		"authorizations": []map[string]any{{
			"topic":       ".*",
			"channels":    []string{".*"},
			"permissions": []string{"subscribe", "publish"},
		}},
	})
}

// Requests returns the query parameters of every request received.
func (a *AuthServer) Requests() []map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]string(nil), a.requests...)
}
