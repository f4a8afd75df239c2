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
