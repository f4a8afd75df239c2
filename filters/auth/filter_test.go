package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm/proxywasmtest"
	"golang.org/x/crypto/bcrypt"
)

// now is the fake clock of every test.
var now = time.Unix(1_800_000_000, 0)

// rootAt returns a root factory whose clock reads *clock.
func rootAt(clock *time.Time) func(uint32) proxywasm.RootContext {
	return func(id uint32) proxywasm.RootContext {
		r := newRoot(id).(*root)
		r.now = func() time.Time { return *clock }
		return r
	}
}

// outcome is what the filter did with one request.
type outcome struct {
	status     int      // 0: continued
	challenges []string // www-authenticate values of a 401
	consumer   string   // wasmgate.consumer
	method     string   // wasmgate.auth_method
	claims     string   // wasmgate.claims
	headers    [][2]string
}

func (o outcome) header(name string) (string, bool) {
	for _, kv := range o.headers {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

// run configures a fake host and sends one request with the path and
// headers; props are stream properties (wasmgate.route).
func run(t *testing.T, clock *time.Time, config, path string, headers [][2]string, props map[string]string) outcome {
	t.Helper()
	h := proxywasmtest.New(t, rootAt(clock), proxywasmtest.Options{PluginConfig: []byte(config)})
	if !h.Start() {
		t.Fatalf("configuration rejected: %v", h.LogMessages(proxywasm.LevelError))
	}
	return send(h, path, headers, props)
}

func send(h *proxywasmtest.Host, path string, headers [][2]string, props map[string]string) outcome {
	s := h.NewStream()
	for k, v := range props {
		s.SetProperty(k, v)
	}
	all := append([][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "h"}, {":path", path}}, headers...)
	act := s.CallOnRequestHeaders(all, true)
	var o outcome
	if lr, ok := s.LocalResponse(); ok {
		o.status = lr.Status
		for _, kv := range lr.Headers {
			if kv[0] == "www-authenticate" {
				o.challenges = append(o.challenges, kv[1])
			}
		}
		if act != proxywasm.Pause {
			o.status = -1 // a local response must pause the stream
		}
	} else if act != proxywasm.Continue {
		o.status = -2
	}
	o.consumer, _ = s.Property("wasmgate.consumer")
	o.method, _ = s.Property("wasmgate.auth_method")
	o.claims, _ = s.Property("wasmgate.claims")
	o.headers = s.RequestHeaders()
	s.Complete()
	return o
}

func basicHeader(user, pass string) [2]string {
	return [2]string{"authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

// TestKeyAuth covers key-auth.
func TestKeyAuth(t *testing.T) {
	const cfg = `{"type":"key","keys":{"alice":"alice-key","bob":["bob-1","bob-2"]},"consumer_header":"X-Consumer"}`
	challenge := []string{`Key realm="wasmgate"`}
	tests := []struct {
		name     string
		config   string
		path     string
		headers  [][2]string
		status   int
		consumer string
		wantPath string
		check    func(t *testing.T, o outcome)
	}{
		{name: "header", config: cfg, path: "/a", headers: [][2]string{{"x-api-key", "alice-key"}}, consumer: "alice", wantPath: "/a",
			check: func(t *testing.T, o outcome) {
				if _, ok := o.header("x-api-key"); ok {
					t.Error("key header reached the upstream")
				}
				if v, _ := o.header("x-consumer"); v != "alice" {
					t.Errorf("x-consumer = %q", v)
				}
				if o.method != "key" {
					t.Errorf("method %q", o.method)
				}
			}},
		{name: "second key of a consumer", config: cfg, path: "/", headers: [][2]string{{"x-api-key", "bob-2"}}, consumer: "bob", wantPath: "/"},
		{name: "query removed", config: cfg, path: "/a?x=1&apikey=bob-1&y=2", consumer: "bob", wantPath: "/a?x=1&y=2"},
		{name: "query only param", config: cfg, path: "/a?apikey=alice-key", consumer: "alice", wantPath: "/a"},
		{name: "query encoded", config: cfg, path: "/a?api%6Bey=alice%2Dkey", consumer: "alice", wantPath: "/a"},
		{name: "unknown key", config: cfg, path: "/", headers: [][2]string{{"x-api-key", "nope"}}, status: 401},
		{name: "missing", config: cfg, path: "/", status: 401},
		{name: "spoofed consumer header removed", config: cfg, path: "/", headers: [][2]string{{"x-consumer", "admin"}}, status: 401,
			check: func(t *testing.T, o outcome) {
				if _, ok := o.header("x-consumer"); ok {
					t.Error("spoofed x-consumer kept")
				}
			}},
		{name: "custom header, keep credentials", config: `{"type":"key","keys":{"alice":"k"},"key_header":"Authorization-Key","key_query":"","hide_credentials":false}`,
			path: "/?apikey=k", headers: [][2]string{{"authorization-key", "k"}}, consumer: "alice", wantPath: "/?apikey=k",
			check: func(t *testing.T, o outcome) {
				if _, ok := o.header("authorization-key"); !ok {
					t.Error("key header removed though hide_credentials is false")
				}
			}},
		{name: "query disabled", config: `{"type":"key","keys":{"alice":"k"},"key_query":""}`, path: "/?apikey=k", status: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := now
			o := run(t, &clock, tc.config, tc.path, tc.headers, nil)
			if o.status != tc.status || o.consumer != tc.consumer {
				t.Fatalf("outcome %+v, want status %d consumer %q", o, tc.status, tc.consumer)
			}
			if tc.status == 401 && !reflect.DeepEqual(o.challenges, challenge) {
				t.Errorf("challenges %q", o.challenges)
			}
			if p, _ := o.header(":path"); tc.status == 0 && p != tc.wantPath {
				t.Errorf(":path = %q, want %q", p, tc.wantPath)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

// bcryptHash hashes at the minimum cost to keep tests fast.
func bcryptHash(t testing.TB, pass string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestBasicAuth covers basic auth with bcrypt hashes.
func TestBasicAuth(t *testing.T) {
	cfg := fmt.Sprintf(`{"type":"basic","realm":"api","users":{"alice":%q}}`, bcryptHash(t, "s3cret"))
	challenge := []string{`Basic realm="api", charset="UTF-8"`}
	tests := []struct {
		name     string
		headers  [][2]string
		status   int
		consumer string
	}{
		{"valid", [][2]string{basicHeader("alice", "s3cret")}, 0, "alice"},
		{"lower-case scheme", [][2]string{{"authorization", "basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))}}, 0, "alice"},
		{"wrong password", [][2]string{basicHeader("alice", "s3cret!")}, 401, ""},
		{"unknown user", [][2]string{basicHeader("bob", "s3cret")}, 401, ""},
		{"no colon", [][2]string{{"authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}}, 401, ""},
		{"bad base64", [][2]string{{"authorization", "Basic !!!"}}, 401, ""},
		{"other scheme is absent", [][2]string{{"authorization", "Bearer x"}}, 401, ""},
		{"missing", nil, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := now
			o := run(t, &clock, cfg, "/", tc.headers, nil)
			if o.status != tc.status || o.consumer != tc.consumer {
				t.Fatalf("outcome %+v", o)
			}
			if tc.status == 0 {
				if _, ok := o.header("authorization"); ok {
					t.Error("authorization reached the upstream")
				}
			} else if !reflect.DeepEqual(o.challenges, challenge) {
				t.Errorf("challenges %q", o.challenges)
			}
		})
	}
	// The verification cache must not accept another password.
	t.Run("cache", func(t *testing.T) {
		clock := now
		h := proxywasmtest.New(t, rootAt(&clock), proxywasmtest.Options{PluginConfig: []byte(cfg)})
		if !h.Start() {
			t.Fatal("rejected")
		}
		for i, c := range []struct {
			pass   string
			status int
		}{{"s3cret", 0}, {"s3cret", 0}, {"wrong", 401}, {"s3cret", 0}} {
			if o := send(h, "/", [][2]string{basicHeader("alice", c.pass)}, nil); o.status != c.status {
				t.Fatalf("request %d: status %d, want %d", i, o.status, c.status)
			}
		}
	})
}

// keys used by the JWT tests, made once.
var testKeys = sync.OnceValue(func() struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
} {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return struct {
		rsa *rsa.PrivateKey
		ec  *ecdsa.PrivateKey
	}{r, e}
})

const hsSecret = "0123456789abcdef0123456789abcdef"

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// sign makes a compact JWS of claims with alg (and kid if not empty).
func sign(t testing.TB, alg, kid string, claims map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	hb, _ := json.Marshal(hdr)
	pb, _ := json.Marshal(claims)
	signed := b64(hb) + "." + b64(pb)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch alg {
	case "HS256":
		m := hmac.New(sha256.New, []byte(hsSecret))
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	case "RS256":
		var err error
		sig, err = rsa.SignPKCS1v15(rand.Reader, testKeys().rsa, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, testKeys().ec, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "none":
	}
	return signed + "." + b64(sig)
}

func pemOf(t testing.TB, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func jwks(t testing.TB) string {
	k := testKeys()
	ecb, err := k.ec.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "n": b64(k.rsa.N.Bytes()), "e": b64(big.NewInt(int64(k.rsa.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64(ecb[1:33]), "y": b64(ecb[33:])},
		{"kty": "oct", "kid": "hs-1", "alg": "HS256", "k": b64([]byte(hsSecret))},
		{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
		{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AA"},
	}}
	b, _ := json.Marshal(set)
	return string(b)
}

// TestJWT covers bearer tokens.
func TestJWT(t *testing.T) {
	k := testKeys()
	inline := func(extra string) string {
		return fmt.Sprintf(`{"type":"jwt","claims_header":"x-claims","jwt":{"keys":[{"alg":"HS256","secret":%q},{"alg":"RS256","kid":"r","pem":%q},{"alg":"ES256","pem":%q}]%s}}`,
			hsSecret, pemOf(t, &k.rsa.PublicKey), pemOf(t, &k.ec.PublicKey), extra)
	}
	withJWKS := func(extra string) string {
		// The set as JSON text, the way HCL file("jwks.json") passes it.
		js, _ := json.Marshal(jwks(t))
		return fmt.Sprintf(`{"type":"jwt","jwt":{"jwks":%s%s}}`, js, extra)
	}
	exp := now.Add(time.Hour).Unix()
	ok := map[string]any{"sub": "alice", "exp": exp}
	claims := func(kv ...any) map[string]any {
		m := map[string]any{"sub": "alice", "exp": exp}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	bearer := func(tok string) [][2]string { return [][2]string{{"authorization", "Bearer " + tok}} }
	tests := []struct {
		name     string
		config   string
		path     string
		headers  [][2]string
		status   int
		consumer string
	}{
		{"HS256", inline(""), "/", bearer(sign(t, "HS256", "", ok)), 0, "alice"},
		{"RS256 with kid", inline(""), "/", bearer(sign(t, "RS256", "r", ok)), 0, "alice"},
		{"RS256 unknown kid", inline(""), "/", bearer(sign(t, "RS256", "other", ok)), 401, ""},
		{"ES256", inline(""), "/", bearer(sign(t, "ES256", "", ok)), 0, "alice"},
		{"JWKS RSA", withJWKS(""), "/", bearer(sign(t, "RS256", "rsa-1", ok)), 0, "alice"},
		{"JWKS EC", withJWKS(""), "/", bearer(sign(t, "ES256", "ec-1", ok)), 0, "alice"},
		{"JWKS oct", withJWKS(""), "/", bearer(sign(t, "HS256", "hs-1", ok)), 0, "alice"},
		{"JWKS kid of another alg", withJWKS(""), "/", bearer(sign(t, "ES256", "rsa-1", ok)), 401, ""},
		{"alg none", inline(""), "/", bearer(sign(t, "none", "", ok)), 401, ""},
		{"tampered payload", inline(""), "/", bearer(tamper(sign(t, "HS256", "", ok))), 401, ""},
		{"bad signature", inline(""), "/", bearer(sign(t, "HS256", "", ok) + "x"), 401, ""},
		{"malformed", inline(""), "/", bearer("a.b"), 401, ""},
		{"expired", inline(""), "/", bearer(sign(t, "HS256", "", claims("exp", now.Add(-2*time.Minute).Unix()))), 401, ""},
		{"expired within skew", inline(""), "/", bearer(sign(t, "HS256", "", claims("exp", now.Add(-30*time.Second).Unix()))), 0, "alice"},
		{"expired, no skew", inline(`,"clock_skew":"0s"`), "/", bearer(sign(t, "HS256", "", claims("exp", now.Add(-30*time.Second).Unix()))), 401, ""},
		{"not yet valid", inline(""), "/", bearer(sign(t, "HS256", "", claims("nbf", now.Add(5*time.Minute).Unix()))), 401, ""},
		{"nbf within skew", inline(""), "/", bearer(sign(t, "HS256", "", claims("nbf", now.Add(30*time.Second).Unix()))), 0, "alice"},
		{"no exp", inline(""), "/", bearer(sign(t, "HS256", "", claims("exp", nil))), 401, ""},
		{"no exp allowed", inline(`,"require_exp":false`), "/", bearer(sign(t, "HS256", "", claims("exp", nil))), 0, "alice"},
		{"issuer", inline(`,"issuer":["https://a","https://b"]`), "/", bearer(sign(t, "HS256", "", claims("iss", "https://b"))), 0, "alice"},
		{"wrong issuer", inline(`,"issuer":"https://a"`), "/", bearer(sign(t, "HS256", "", claims("iss", "https://evil"))), 401, ""},
		{"missing issuer", inline(`,"issuer":"https://a"`), "/", bearer(sign(t, "HS256", "", ok)), 401, ""},
		{"audience string", inline(`,"audience":"api"`), "/", bearer(sign(t, "HS256", "", claims("aud", "api"))), 0, "alice"},
		{"audience list", inline(`,"audience":["api","web"]`), "/", bearer(sign(t, "HS256", "", claims("aud", []string{"x", "web"}))), 0, "alice"},
		{"wrong audience", inline(`,"audience":"api"`), "/", bearer(sign(t, "HS256", "", claims("aud", []string{"x"}))), 401, ""},
		{"consumer claim", inline(`,"consumer_claim":"client_id"`), "/", bearer(sign(t, "HS256", "", claims("client_id", "svc-7"))), 0, "svc-7"},
		{"numeric consumer claim", inline(`,"consumer_claim":"uid"`), "/", bearer(sign(t, "HS256", "", claims("uid", 42))), 0, "42"},
		{"missing consumer claim", inline(""), "/", bearer(sign(t, "HS256", "", claims("sub", nil))), 401, ""},
		{"token in query", inline(`,"query":"access_token"`), "/x?access_token=" + sign(t, "HS256", "", ok) + "&a=1", nil, 0, "alice"},
		{"query not configured", inline(""), "/x?access_token=" + sign(t, "HS256", "", ok), nil, 401, ""},
		{"not bearer", inline(""), "/", [][2]string{{"authorization", "Token abc"}}, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := now
			o := run(t, &clock, tc.config, tc.path, tc.headers, nil)
			if o.status != tc.status || o.consumer != tc.consumer {
				t.Fatalf("outcome %+v, want status %d consumer %q", o, tc.status, tc.consumer)
			}
			if tc.status == 401 {
				want := `Bearer realm="wasmgate", error="invalid_token"`
				if len(tc.headers) == 0 || tc.name == "not bearer" {
					want = `Bearer realm="wasmgate"` // no token: a plain challenge
				}
				if !reflect.DeepEqual(o.challenges, []string{want}) {
					t.Errorf("challenges %q, want %q", o.challenges, want)
				}
				return
			}
			if o.method != "jwt" || !strings.HasPrefix(o.claims, "{") {
				t.Errorf("method %q claims %q", o.method, o.claims)
			}
			if _, ok := o.header("authorization"); ok {
				t.Error("token reached the upstream")
			}
			if p, _ := o.header(":path"); strings.Contains(p, "access_token") {
				t.Errorf("token left in the query: %q", p)
			}
		})
	}
}

// TestJWTClaimsAndCache checks the claims property and header, and that a
// cached token is still checked against the clock.
func TestJWTClaimsAndCache(t *testing.T) {
	clock := now
	cfg := fmt.Sprintf(`{"type":"jwt","claims_header":"X-Claims","consumer_header":"x-consumer","jwt":{"keys":[{"alg":"HS256","secret":%q}]}}`, hsSecret)
	h := proxywasmtest.New(t, rootAt(&clock), proxywasmtest.Options{PluginConfig: []byte(cfg)})
	if !h.Start() {
		t.Fatal("rejected")
	}
	tok := sign(t, "HS256", "", map[string]any{"sub": "alice", "exp": now.Add(time.Minute).Unix(), "scope": "read"})
	hdrs := [][2]string{{"authorization", "Bearer " + tok}, {"x-claims", "forged"}}
	o := send(h, "/", hdrs, nil)
	want := fmt.Sprintf(`{"exp":%d,"scope":"read","sub":"alice"}`, now.Add(time.Minute).Unix())
	if o.status != 0 || o.claims != want {
		t.Fatalf("outcome %+v, claims want %s", o, want)
	}
	if v, _ := o.header("x-claims"); v != want {
		t.Fatalf("x-claims %q", v)
	}
	if v, _ := o.header("x-consumer"); v != "alice" {
		t.Fatalf("x-consumer %q", v)
	}
	if o := send(h, "/", hdrs, nil); o.status != 0 || o.consumer != "alice" {
		t.Fatalf("cached: %+v", o)
	}
	clock = now.Add(3 * time.Minute) // past exp + 60s skew
	if o := send(h, "/", hdrs, nil); o.status != 401 {
		t.Fatalf("expired cached token: %+v", o)
	}
}

// tamper changes the payload of a token, keeping its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = b64([]byte(`{"sub":"admin","exp":9999999999}`))
	return strings.Join(parts, ".")
}

// TestAnonymousAndMethods covers anonymous paths and routes, and several
// methods at once.
func TestAnonymousAndMethods(t *testing.T) {
	cfg := fmt.Sprintf(`{"type":["key","basic","jwt"],"keys":{"alice":"k"},"users":{"bob":%q},`+
		`"jwt":{"keys":[{"alg":"HS256","secret":%q}]},"anonymous":{"paths":["/public/"],"routes":["health"]}}`, bcryptHash(t, "pw"), hsSecret)
	all := []string{`Key realm="wasmgate"`, `Basic realm="wasmgate", charset="UTF-8"`, `Bearer realm="wasmgate"`}
	tok := sign(t, "HS256", "", map[string]any{"sub": "carol", "exp": now.Add(time.Hour).Unix()})
	tests := []struct {
		name       string
		path       string
		headers    [][2]string
		props      map[string]string
		status     int
		consumer   string
		challenges []string
	}{
		{"none", "/private", nil, nil, 401, "", all},
		{"key", "/private", [][2]string{{"x-api-key", "k"}}, nil, 0, "alice", nil},
		{"basic", "/private", [][2]string{basicHeader("bob", "pw")}, nil, 0, "bob", nil},
		{"jwt", "/private", [][2]string{{"authorization", "Bearer " + tok}}, nil, 0, "carol", nil},
		{"bad basic", "/private", [][2]string{basicHeader("bob", "no")}, nil, 401, "", []string{`Basic realm="wasmgate", charset="UTF-8"`}},
		{"bad key wins before a good token", "/private", [][2]string{{"x-api-key", "bad"}, {"authorization", "Bearer " + tok}}, nil, 401, "", []string{`Key realm="wasmgate"`}},
		{"anonymous path", "/public", nil, nil, 0, "", nil},
		{"anonymous subpath", "/public/a?b=c", nil, nil, 0, "", nil},
		{"not a segment", "/publicity", nil, nil, 401, "", all},
		{"anonymous route", "/healthz", nil, map[string]string{"wasmgate.route": "health"}, 0, "", nil},
		{"other route", "/healthz", nil, map[string]string{"wasmgate.route": "api"}, 401, "", all},
		{"anonymous with valid key", "/public/x", [][2]string{{"x-api-key", "k"}}, nil, 0, "alice", nil},
		{"anonymous with bad key", "/public/x", [][2]string{{"x-api-key", "bad"}}, nil, 401, "", []string{`Key realm="wasmgate"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := now
			o := run(t, &clock, cfg, tc.path, tc.headers, tc.props)
			if o.status != tc.status || o.consumer != tc.consumer || !reflect.DeepEqual(o.challenges, tc.challenges) {
				t.Fatalf("outcome %+v, want %d %q %q", o, tc.status, tc.consumer, tc.challenges)
			}
		})
	}
}

// TestBadConfig: every invalid configuration is rejected with a log line.
func TestBadConfig(t *testing.T) {
	k := testKeys()
	tests := []struct{ name, config string }{
		{"empty", ``},
		{"no type", `{"keys":{"a":"k"}}`},
		{"unknown type", `{"type":"oauth"}`},
		{"twice", `{"type":["key","key"],"keys":{"a":"k"}}`},
		{"unknown field", `{"type":"key","keys":{"a":"k"},"kyes":{}}`},
		{"key without keys", `{"type":"key"}`},
		{"empty key", `{"type":"key","keys":{"a":""}}`},
		{"shared key", `{"type":"key","keys":{"a":"k","b":["x","k"]}}`},
		{"nowhere for the key", `{"type":"key","keys":{"a":"k"},"key_header":"","key_query":""}`},
		{"keys without key type", `{"type":"basic","users":{"a":"$2a$04$abcdefghijklmnopqrstuu5Wl0bXPaQ3dB6oOxyN8f0e3PzQAl5i"},"keys":{"a":"k"}}`},
		{"plain password", `{"type":"basic","users":{"a":"secret"}}`},
		{"jwt without jwt", `{"type":"jwt"}`},
		{"jwt without keys", `{"type":"jwt","jwt":{}}`},
		{"short secret", `{"type":"jwt","jwt":{"keys":[{"alg":"HS256","secret":"short"}]}}`},
		{"unknown alg", `{"type":"jwt","jwt":{"keys":[{"alg":"HS512","secret":"` + hsSecret + `"}]}}`},
		{"RSA key for ES256", fmt.Sprintf(`{"type":"jwt","jwt":{"keys":[{"alg":"ES256","pem":%q}]}}`, pemOf(t, &k.rsa.PublicKey))},
		{"bad pem", `{"type":"jwt","jwt":{"keys":[{"alg":"RS256","pem":"nope"}]}}`},
		{"bad jwks", `{"type":"jwt","jwt":{"jwks":"{"}}`},
		{"bad skew", fmt.Sprintf(`{"type":"jwt","jwt":{"keys":[{"alg":"HS256","secret":%q}],"clock_skew":"soon"}}`, hsSecret)},
		{"bad realm", `{"type":"key","keys":{"a":"k"},"realm":"a\"b"}`},
		{"bad anonymous path", `{"type":"key","keys":{"a":"k"},"anonymous":{"paths":["public"]}}`},
		{"bad consumer header", `{"type":"key","keys":{"a":"k"},"consumer_header":"x consumer"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := proxywasmtest.New(t, newRoot, proxywasmtest.Options{PluginConfig: []byte(tc.config)})
			if h.Start() {
				t.Fatal("accepted")
			}
			if len(h.LogMessages(proxywasm.LevelError)) == 0 {
				t.Fatal("nothing logged")
			}
		})
	}
}

// Benchmarks: one authenticated request per method; basic and JWT hit the
// per-instance verification caches after the first request, as they do in
// steady state.
func BenchmarkAuth(b *testing.B) {
	tok := sign(b, "ES256", "", map[string]any{"sub": "carol", "exp": now.Add(time.Hour).Unix()})
	cases := []struct {
		name, config string
		header       [2]string
	}{
		{"key", `{"type":"key","keys":{"alice":"alice-key"}}`, [2]string{"x-api-key", "alice-key"}},
		{"basic", fmt.Sprintf(`{"type":"basic","users":{"bob":%q}}`, bcryptHash(b, "pw")), basicHeader("bob", "pw")},
		{"jwt-es256", fmt.Sprintf(`{"type":"jwt","jwt":{"keys":[{"alg":"ES256","pem":%q}]}}`, pemOf(b, &testKeys().ec.PublicKey)), [2]string{"authorization", "Bearer " + tok}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			clock := now
			h := proxywasmtest.New(b, rootAt(&clock), proxywasmtest.Options{PluginConfig: []byte(c.config)})
			if !h.Start() {
				b.Fatal("rejected")
			}
			hdrs := [][2]string{{":method", "GET"}, {":authority", "h"}, {":path", "/"}, c.header}
			b.ReportAllocs()
			for b.Loop() {
				s := h.NewStream()
				if s.CallOnRequestHeaders(hdrs, true) != proxywasm.Continue {
					b.Fatal("refused")
				}
				s.Complete()
			}
		})
	}
}

// TestProtected: with protected set, only the requests it selects need
// credentials.
func TestProtected(t *testing.T) {
	cfg := `{"type":"key","keys":{"alice":"k"},"protected":{"paths":["/admin"],"routes":["billing"]},"anonymous":{"paths":["/admin/login"]}}`
	tests := []struct {
		name     string
		path     string
		headers  [][2]string
		route    string
		status   int
		consumer string
	}{
		{"open path", "/hello", nil, "", 0, ""},
		{"open path with key", "/hello", [][2]string{{"x-api-key", "k"}}, "", 0, "alice"},
		{"open path with bad key", "/hello", [][2]string{{"x-api-key", "x"}}, "", 401, ""},
		{"protected path", "/admin/users", nil, "", 401, ""},
		{"protected path with key", "/admin", [][2]string{{"x-api-key", "k"}}, "", 0, "alice"},
		{"not a segment", "/administrator", nil, "", 0, ""},
		{"protected route", "/pay", nil, "billing", 401, ""},
		{"anonymous inside protected", "/admin/login", nil, "", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := now
			var props map[string]string
			if tc.route != "" {
				props = map[string]string{"wasmgate.route": tc.route}
			}
			o := run(t, &clock, cfg, tc.path, tc.headers, props)
			if o.status != tc.status || o.consumer != tc.consumer {
				t.Fatalf("outcome %+v, want %d %q", o, tc.status, tc.consumer)
			}
		})
	}
}
