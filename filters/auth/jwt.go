package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Supported JWS algorithms.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algES256 = "ES256"
)

// jwtKey is a verification key.
type jwtKey struct {
	kid    string
	alg    string
	secret []byte
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
}

type jwtSettings struct {
	keys       []jwtKey
	issuers    []string
	audiences  []string
	skew       int64 // seconds
	requireExp bool
	claim      string
	header     string
	query      string
}

func compileJWT(c *JWTConfig) (*jwtSettings, error) {
	j := &jwtSettings{issuers: c.Issuer, audiences: c.Audience, requireExp: true, claim: "sub", header: "authorization", query: c.Query}
	if c.RequireExp != nil {
		j.requireExp = *c.RequireExp
	}
	if c.ConsumerClaim != "" {
		j.claim = c.ConsumerClaim
	}
	if c.Header != nil {
		j.header = strings.ToLower(*c.Header)
	}
	if j.header == "" && j.query == "" {
		return nil, errors.New("header and query are both empty: the token has nowhere to come from")
	}
	skew, err := parseSkew(c.ClockSkew)
	if err != nil {
		return nil, err
	}
	j.skew = int64(skew / time.Second)
	for i, k := range c.Keys {
		key, err := inlineKey(k)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		j.keys = append(j.keys, key)
	}
	if len(c.JWKS) > 0 {
		keys, err := parseJWKS(c.JWKS)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		j.keys = append(j.keys, keys...)
	}
	if len(j.keys) == 0 {
		return nil, errors.New("no usable keys: give keys or a jwks")
	}
	return j, nil
}

func inlineKey(k JWTKey) (jwtKey, error) {
	key := jwtKey{kid: k.Kid, alg: k.Alg}
	switch k.Alg {
	case algHS256:
		switch {
		case k.Secret != "" && k.SecretBase64 != "":
			return key, errors.New("set secret or secret_base64, not both")
		case k.Secret != "":
			key.secret = []byte(k.Secret)
		case k.SecretBase64 != "":
			b, err := decodeBase64(k.SecretBase64)
			if err != nil {
				return key, fmt.Errorf("secret_base64: %w", err)
			}
			key.secret = b
		}
		if len(key.secret) < 32 {
			return key, errors.New("an HS256 secret must have at least 32 bytes")
		}
		if k.PEM != "" {
			return key, errors.New("HS256 takes a secret, not a pem")
		}
	case algRS256, algES256:
		if k.Secret != "" || k.SecretBase64 != "" {
			return key, fmt.Errorf("%s takes a pem public key, not a secret", k.Alg)
		}
		pub, err := parsePEM(k.PEM)
		if err != nil {
			return key, err
		}
		switch p := pub.(type) {
		case *rsa.PublicKey:
			if k.Alg != algRS256 {
				return key, fmt.Errorf("an RSA key is for RS256, not %s", k.Alg)
			}
			key.rsa = p
		case *ecdsa.PublicKey:
			if k.Alg != algES256 || p.Curve != elliptic.P256() {
				return key, fmt.Errorf("ES256 needs a P-256 key")
			}
			key.ec = p
		default:
			return key, fmt.Errorf("unsupported public key type %T", pub)
		}
	default:
		return key, fmt.Errorf("alg %q: use HS256, RS256 or ES256", k.Alg)
	}
	return key, nil
}

// parsePEM reads a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block.
func parsePEM(text string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("pem: no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	return nil, fmt.Errorf("pem: unsupported block %q", block.Type)
}

// jwk is the subset of a JSON Web Key (RFC 7517/7518) that is used.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
}

// parseJWKS reads a key set given as JSON or as a JSON string holding it.
func parseJWKS(raw json.RawMessage) ([]jwtKey, error) {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		raw = json.RawMessage(text)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, err
	}
	var out []jwtKey
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key := jwtKey{kid: k.Kid, alg: k.Alg}
		switch k.Kty {
		case "RSA":
			if key.alg == "" {
				key.alg = algRS256
			}
			n, err1 := base64.RawURLEncoding.DecodeString(k.N)
			e, err2 := base64.RawURLEncoding.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("keys[%d]: bad RSA n or e", i)
			}
			eInt := int(new(big.Int).SetBytes(e).Int64())
			key.rsa = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: eInt}
		case "EC":
			if key.alg == "" {
				key.alg = algES256
			}
			if k.Crv != "P-256" {
				continue
			}
			x, err1 := base64.RawURLEncoding.DecodeString(k.X)
			y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
			if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
				return nil, fmt.Errorf("keys[%d]: bad EC x or y", i)
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
			if err != nil {
				return nil, fmt.Errorf("keys[%d]: %w", i, err)
			}
			key.ec = pub
		case "oct":
			if key.alg == "" {
				key.alg = algHS256
			}
			b, err := base64.RawURLEncoding.DecodeString(k.K)
			if err != nil || len(b) < 32 {
				return nil, fmt.Errorf("keys[%d]: an oct key needs k of at least 32 bytes", i)
			}
			key.secret = b
		default:
			continue
		}
		if key.alg != algRS256 && key.alg != algES256 && key.alg != algHS256 ||
			key.alg == algRS256 && key.rsa == nil || key.alg == algES256 && key.ec == nil || key.alg == algHS256 && key.secret == nil {
			continue // an algorithm we do not verify, or a mismatched kty
		}
		out = append(out, key)
	}
	return out, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// Token errors; their text goes to the log, never to the client.
var (
	errMalformed  = errors.New("malformed token")
	errAlg        = errors.New("unsupported alg")
	errNoKey      = errors.New("no key for the token's kid and alg")
	errSignature  = errors.New("bad signature")
	errExpired    = errors.New("token expired")
	errNotYet     = errors.New("token not valid yet")
	errNoExp      = errors.New("token without exp")
	errIssuer     = errors.New("issuer not accepted")
	errAudience   = errors.New("audience not accepted")
	errNoConsumer = errors.New("token without the consumer claim")
)

// verified is what a valid token yields; exp and nbf are checked again on
// every use.
type verified struct {
	consumer string
	claims   string // the payload, a JSON object
	exp, nbf int64
	hasExp   bool
	hasNbf   bool
}

// verify checks a compact JWS token's signature and claims (except times,
// see checkTimes).
func (j *jwtSettings) verify(token string) (*verified, error) {
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, errMalformed
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(h64)
	pb, err2 := base64.RawURLEncoding.DecodeString(p64)
	sig, err3 := base64.RawURLEncoding.DecodeString(s64)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, errMalformed
	}
	var hdr struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Crit json.RawMessage `json:"crit"`
	}
	if json.Unmarshal(hb, &hdr) != nil {
		return nil, errMalformed
	}
	if len(hdr.Crit) > 0 {
		return nil, errors.New("crit header not supported")
	}
	if hdr.Alg != algHS256 && hdr.Alg != algRS256 && hdr.Alg != algES256 {
		return nil, errAlg
	}
	signed := token[:len(h64)+1+len(p64)]
	digest := sha256.Sum256([]byte(signed))
	tried := false
	valid := false
	for i := range j.keys {
		k := &j.keys[i]
		if k.alg != hdr.Alg || hdr.Kid != "" && k.kid != "" && k.kid != hdr.Kid {
			continue
		}
		tried = true
		if k.check(signed, digest[:], sig) {
			valid = true
			break
		}
	}
	switch {
	case !tried:
		return nil, errNoKey
	case !valid:
		return nil, errSignature
	}
	return j.claims(pb)
}

func (k *jwtKey) check(signed string, digest, sig []byte) bool {
	switch k.alg {
	case algHS256:
		m := hmac.New(sha256.New, k.secret)
		m.Write([]byte(signed))
		return hmac.Equal(m.Sum(nil), sig)
	case algRS256:
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) == nil
	case algES256:
		if len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, digest, r, s)
	}
	return false
}

// claims checks the registered claims of a verified payload.
func (j *jwtSettings) claims(payload []byte) (*verified, error) {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(payload, &c); err != nil || c == nil {
		return nil, errMalformed
	}
	v := &verified{}
	var err error
	if v.exp, v.hasExp, err = numericDate(c["exp"]); err != nil {
		return nil, err
	}
	if v.nbf, v.hasNbf, err = numericDate(c["nbf"]); err != nil {
		return nil, err
	}
	if j.requireExp && !v.hasExp {
		return nil, errNoExp
	}
	if len(j.issuers) > 0 {
		var iss string
		if json.Unmarshal(c["iss"], &iss) != nil || !slices.Contains(j.issuers, iss) {
			return nil, errIssuer
		}
	}
	if len(j.audiences) > 0 {
		var aud stringList
		if raw, ok := c["aud"]; !ok || json.Unmarshal(raw, &aud) != nil || !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(j.audiences, a) }) {
			return nil, errAudience
		}
	}
	raw, ok := c[j.claim]
	if !ok {
		return nil, errNoConsumer
	}
	var consumer string
	if json.Unmarshal(raw, &consumer) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return nil, errNoConsumer
		}
		consumer = n.String()
	}
	if consumer == "" {
		return nil, errNoConsumer
	}
	v.consumer = consumer
	var compact bytes.Buffer
	if json.Compact(&compact, payload) != nil {
		return nil, errMalformed
	}
	v.claims = compact.String()
	return v, nil
}

// numericDate reads an optional NumericDate (seconds, possibly fractional).
func numericDate(raw json.RawMessage) (int64, bool, error) {
	if raw == nil || string(raw) == "null" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, false, errMalformed
	}
	return int64(f), true, nil
}

// checkTimes checks exp and nbf at now, with the configured skew.
func (j *jwtSettings) checkTimes(v *verified, now int64) error {
	if v.hasExp && now > v.exp+j.skew {
		return errExpired
	}
	if v.hasNbf && now < v.nbf-j.skew {
		return errNotYet
	}
	return nil
}
