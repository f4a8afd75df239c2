package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Config is the plugin configuration of builtin:auth, a JSON document
// documented in filters/README.md. Unknown fields are rejected.
type Config struct {
	// Type lists the methods ("key", "basic", "jwt"), one string or a list.
	// They are tried in order: the first whose credential the request
	// carries decides; a request that carries none is refused (401) unless
	// it is anonymous.
	Type stringList `json:"type"`
	// Realm is named in WWW-Authenticate; default "wasmgate".
	Realm string `json:"realm,omitempty"`

	// Keys maps each consumer to its API key, or a list of keys (key).
	Keys map[string]stringList `json:"keys,omitempty"`
	// KeyHeader carries the key; default "x-api-key", "" for none.
	KeyHeader *string `json:"key_header,omitempty"`
	// KeyQuery is the query parameter that carries the key; default
	// "apikey", "" for none.
	KeyQuery *string `json:"key_query,omitempty"`

	// Users maps each consumer to a bcrypt hash of its password (basic).
	Users map[string]string `json:"users,omitempty"`

	// JWT configures bearer tokens (jwt).
	JWT *JWTConfig `json:"jwt,omitempty"`

	// Anonymous requests may go without credentials.
	Anonymous *AnonymousConfig `json:"anonymous,omitempty"`
	// Protected, if set, limits authentication to these requests: all
	// others are anonymous (Anonymous still exempts part of them).
	Protected *AnonymousConfig `json:"protected,omitempty"`
	// HideCredentials removes the credential (key header or parameter,
	// Authorization, token parameter) before the upstream sees the
	// request; default true.
	HideCredentials *bool `json:"hide_credentials,omitempty"`
	// ConsumerHeader, if set, carries the consumer to the upstream.
	ConsumerHeader string `json:"consumer_header,omitempty"`
	// ClaimsHeader, if set, carries a JWT's claims (JSON) to the upstream.
	ClaimsHeader string `json:"claims_header,omitempty"`
}

// JWTConfig configures JWT bearer authentication.
type JWTConfig struct {
	// Keys are verification keys given inline.
	Keys []JWTKey `json:"keys,omitempty"`
	// JWKS is a JSON Web Key Set: the JSON text (for example from HCL
	// file("jwks.json")) or the object itself. RSA (RS256), EC P-256
	// (ES256) and oct (HS256) keys are used; others are ignored.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// Issuer, if set, lists the accepted iss values.
	Issuer stringList `json:"issuer,omitempty"`
	// Audience, if set, lists accepted audiences; the token's aud must
	// contain one.
	Audience stringList `json:"audience,omitempty"`
	// ClockSkew tolerated on exp and nbf, a Go duration; default "60s".
	ClockSkew string `json:"clock_skew,omitempty"`
	// RequireExp refuses tokens without exp; default true.
	RequireExp *bool `json:"require_exp,omitempty"`
	// ConsumerClaim names the claim that is the consumer; default "sub".
	ConsumerClaim string `json:"consumer_claim,omitempty"`
	// Header carries "Bearer TOKEN"; default "authorization", "" for none.
	Header *string `json:"header,omitempty"`
	// Query is a query parameter that carries the token; default none.
	Query string `json:"query,omitempty"`
}

// JWTKey is one inline key: Alg is HS256 with Secret (or SecretBase64),
// or RS256/ES256 with PEM (a public key, PKCS#1 RSA key or certificate).
// Kid, if set, must match the token's kid.
type JWTKey struct {
	Kid          string `json:"kid,omitempty"`
	Alg          string `json:"alg"`
	Secret       string `json:"secret,omitempty"`
	SecretBase64 string `json:"secret_base64,omitempty"`
	PEM          string `json:"pem,omitempty"`
}

// AnonymousConfig selects requests (anonymous or protected ones): paths
// are segment-aware prefixes (/public matches /public and /public/x),
// routes are names set by the routing filter (wasmgate.route). A credential
// that an anonymous request carries is still checked.
type AnonymousConfig struct {
	Paths  []string `json:"paths,omitempty"`
	Routes []string `json:"routes,omitempty"`
}

// stringList is a JSON string or list of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = stringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = list
	return nil
}

// Methods.
const (
	methodKey   = "key"
	methodBasic = "basic"
	methodJWT   = "jwt"
)

// settings is a compiled Config.
type settings struct {
	methods []string
	realm   string

	keys      map[[32]byte]string // sha256(key) → consumer
	keyHeader string
	keyQuery  string

	users map[string][]byte // consumer → bcrypt hash

	jwt *jwtSettings

	anon      *requestSet // may go without credentials
	protected *requestSet // nil: every request needs credentials
	hide      bool
	consumerH string
	claimsH   string

	challenges [][2]string // www-authenticate for a missing credential
}

func parseConfig(data []byte) (*settings, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("auth: configuration: %w", err)
	}
	s, err := compile(&cfg)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return s, nil
}

func compile(cfg *Config) (*settings, error) {
	s := &settings{realm: "wasmgate", hide: true, keyHeader: "x-api-key", keyQuery: "apikey"}
	if cfg.Realm != "" {
		if strings.ContainsAny(cfg.Realm, "\"\\\r\n") {
			return nil, fmt.Errorf("realm %q must not contain quotes, backslashes or line breaks", cfg.Realm)
		}
		s.realm = cfg.Realm
	}
	if cfg.HideCredentials != nil {
		s.hide = *cfg.HideCredentials
	}
	if len(cfg.Type) == 0 {
		return nil, errors.New(`type is required: "key", "basic", "jwt" or a list of them`)
	}
	seen := map[string]bool{}
	for _, m := range cfg.Type {
		if seen[m] {
			return nil, fmt.Errorf("type %q is listed twice", m)
		}
		seen[m] = true
		switch m {
		case methodKey:
			if err := s.compileKeys(cfg); err != nil {
				return nil, err
			}
			s.challenges = append(s.challenges, [2]string{"www-authenticate", `Key realm="` + s.realm + `"`})
		case methodBasic:
			if err := s.compileUsers(cfg); err != nil {
				return nil, err
			}
			s.challenges = append(s.challenges, [2]string{"www-authenticate", `Basic realm="` + s.realm + `", charset="UTF-8"`})
		case methodJWT:
			if cfg.JWT == nil {
				return nil, errors.New(`type "jwt" needs a jwt object`)
			}
			j, err := compileJWT(cfg.JWT)
			if err != nil {
				return nil, fmt.Errorf("jwt: %w", err)
			}
			s.jwt = j
			s.challenges = append(s.challenges, [2]string{"www-authenticate", `Bearer realm="` + s.realm + `"`})
		default:
			return nil, fmt.Errorf(`unknown type %q: use "key", "basic" or "jwt"`, m)
		}
		s.methods = append(s.methods, m)
	}
	if len(cfg.Keys) > 0 && !seen[methodKey] || len(cfg.Users) > 0 && !seen[methodBasic] || cfg.JWT != nil && !seen[methodJWT] {
		return nil, errors.New("keys, users and jwt need their method in type")
	}
	var err error
	if s.anon, err = compileSet("anonymous", cfg.Anonymous); err != nil {
		return nil, err
	}
	if s.protected, err = compileSet("protected", cfg.Protected); err != nil {
		return nil, err
	}
	if s.consumerH, err = optionalHeader("consumer_header", cfg.ConsumerHeader); err != nil {
		return nil, err
	}
	if s.claimsH, err = optionalHeader("claims_header", cfg.ClaimsHeader); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *settings) compileKeys(cfg *Config) error {
	if cfg.KeyHeader != nil {
		s.keyHeader = strings.ToLower(*cfg.KeyHeader)
	}
	if cfg.KeyQuery != nil {
		s.keyQuery = *cfg.KeyQuery
	}
	if s.keyHeader == "" && s.keyQuery == "" {
		return errors.New("key_header and key_query are both empty: the key has nowhere to come from")
	}
	if len(cfg.Keys) == 0 {
		return errors.New(`type "key" needs keys: {"CONSUMER": "KEY", ...}`)
	}
	s.keys = map[[32]byte]string{}
	consumers := make([]string, 0, len(cfg.Keys))
	for c := range cfg.Keys {
		consumers = append(consumers, c)
	}
	sort.Strings(consumers)
	for _, c := range consumers {
		if c == "" {
			return errors.New("a key's consumer name is empty")
		}
		for _, k := range cfg.Keys[c] {
			if k == "" {
				return fmt.Errorf("consumer %q has an empty key", c)
			}
			sum := sha256.Sum256([]byte(k))
			if other, dup := s.keys[sum]; dup {
				return fmt.Errorf("consumers %q and %q share a key", other, c)
			}
			s.keys[sum] = c
		}
	}
	return nil
}

func (s *settings) compileUsers(cfg *Config) error {
	if len(cfg.Users) == 0 {
		return errors.New(`type "basic" needs users: {"CONSUMER": "BCRYPT HASH", ...}`)
	}
	s.users = map[string][]byte{}
	for u, h := range cfg.Users {
		if u == "" || strings.Contains(u, ":") {
			return fmt.Errorf("user name %q must be non-empty and without ':'", u)
		}
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return fmt.Errorf("user %q: not a bcrypt hash ($2a$, $2b$ or $2y$): %v", u, err)
		}
		s.users[u] = []byte(h)
	}
	return nil
}

// requestSet is a compiled AnonymousConfig.
type requestSet struct {
	paths  []string // without trailing '/'
	routes []string
}

func compileSet(what string, a *AnonymousConfig) (*requestSet, error) {
	if a == nil {
		return nil, nil
	}
	rs := &requestSet{routes: a.Routes}
	for _, p := range a.Paths {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("%s path %q must start with /", what, p)
		}
		rs.paths = append(rs.paths, strings.TrimRight(p, "/"))
	}
	return rs, nil
}

func optionalHeader(what, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return "", fmt.Errorf("%s %q is not a header name", what, name)
		}
	}
	return strings.ToLower(name), nil
}

// parseSkew parses the clock skew, default 60s.
func parseSkew(s string) (time.Duration, error) {
	if s == "" {
		return 60 * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("clock_skew %q is not a duration", s)
	}
	return d, nil
}
