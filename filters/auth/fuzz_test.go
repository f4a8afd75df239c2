package auth

import (
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary bearer tokens to the JWT verifier: it must
// never panic, and only a token signed with the key may pass.
func FuzzVerify(f *testing.F) {
	j, err := compileJWT(&JWTConfig{Keys: []JWTKey{{Alg: "HS256", Secret: hsSecret}}, RequireExp: new(bool)})
	if err != nil {
		f.Fatal(err)
	}
	good := sign(f, "HS256", "", map[string]any{"sub": "alice", "exp": now.Add(time.Hour).Unix()})
	for _, s := range []string{good, "a.b.c", "..", "e30.e30.", good + "x", tamper(good)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		v, err := j.verify(token)
		if err == nil && (v == nil || v.consumer == "") {
			t.Fatalf("accepted without a consumer: %q", token)
		}
	})
}

// FuzzQuery checks query parsing and credential removal on arbitrary
// paths.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"/a?apikey=k&x=1", "/?a%20b=%zz&&=", "/x?apikey", "?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		_, query, _ := cutQuery(path)
		queryValue(query, "apikey")
	})
}

func cutQuery(p string) (string, string, bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == '?' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

// FuzzParseConfig feeds arbitrary configurations (JWKS and PEM keys
// included) to the parser: it must accept or reject them without
// panicking, and what it accepts must have a method to authenticate with.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{`{"type":"key","keys":{"alice":"k","bob":["b1","b2"]},"consumer_header":"X-Consumer"}`,
		`{"type":"basic","users":{"alice":"$2a$04$abcdefghijklmnopqrstuuZ3Ww7H8XaYl2H7k9gqKj8wq1yJmRkG"}}`,
		`{"type":"jwt","jwt":{"keys":[{"alg":"HS256","secret":"s"}],"issuer":"i","audience":["a"]}}`,
		`{"type":"jwt","jwt":{"jwks":"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}"}}`,
		`{"type":"jwt","jwt":{"keys":[{"alg":"RS256","pem":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----"}]}}`,
		`{"type":["key","jwt"]}`, `{}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseConfig(data)
		if err == nil && (s == nil || len(s.methods) == 0) {
			t.Fatalf("accepted %q with no method", data)
		}
	})
}
