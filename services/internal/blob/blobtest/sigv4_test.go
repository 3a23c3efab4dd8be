package blobtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// The signature check refuses what S3 refuses: no signature, another key pair, a header changed
// or added after signing, a body that does not match its declared SHA-256 or checksum.
func TestVerifySigV4(t *testing.T) {
	srv := httptest.NewServer(VerifySigV4(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}), "key", "secret"))
	defer srv.Close()
	sha := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	crc32c := func(s string) string {
		h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
		h.Write([]byte(s))
		return base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	type req struct {
		payload, body, secret string
		header                map[string]string
		after                 func(*http.Request)
	}
	send := func(c req) int {
		t.Helper()
		r, _ := http.NewRequest("PUT", srv.URL+"/bucket/some/key?partNumber=2&uploadId=a%2Fb+c", strings.NewReader(c.body))
		r.Header.Set("X-Amz-Content-Sha256", c.payload)
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		secret := "secret"
		if c.secret != "" {
			secret = c.secret
		}
		r = signer.SignV4(*r, "key", secret, "", "us-east-1")
		if c.after != nil {
			c.after(r)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for what, c := range map[string]struct {
		req
		want int
	}{
		"signed, unsigned payload":     {req{payload: "UNSIGNED-PAYLOAD", body: "abc"}, 200},
		"signed, payload hash":         {req{payload: sha("abc"), body: "abc"}, 200},
		"signed, crc32c":               {req{payload: "UNSIGNED-PAYLOAD", body: "abc", header: map[string]string{"X-Amz-Checksum-Crc32c": crc32c("abc")}}, 200},
		"another secret":               {req{payload: "UNSIGNED-PAYLOAD", body: "abc", secret: "other"}, 403},
		"header changed after signing": {req{payload: "UNSIGNED-PAYLOAD", header: map[string]string{"X-Amz-Meta-A": "1"}, after: func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "2") }}, 403},
		"x-amz header not signed":      {req{payload: "UNSIGNED-PAYLOAD", after: func(r *http.Request) { r.Header.Set("X-Amz-Meta-B", "1") }}, 403},
		"query changed after signing":  {req{payload: "UNSIGNED-PAYLOAD", after: func(r *http.Request) { r.URL.RawQuery = "partNumber=3&uploadId=a%2Fb+c" }}, 403},
		"path changed after signing":   {req{payload: "UNSIGNED-PAYLOAD", after: func(r *http.Request) { r.URL.Path = "/bucket/other" }}, 403},
		"no signature":                 {req{payload: "UNSIGNED-PAYLOAD", after: func(r *http.Request) { r.Header.Del("Authorization") }}, 403},
		"body not its hash":            {req{payload: sha("abc"), body: "abd"}, 400},
		"body not its crc32c":          {req{payload: "UNSIGNED-PAYLOAD", body: "abd", header: map[string]string{"X-Amz-Checksum-Crc32c": crc32c("abc")}}, 400},
		"streaming payload":            {req{payload: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", body: "abc"}, 400},
	} {
		if got := send(c.req); got != c.want {
			t.Errorf("%s: %d, want %d", what, got, c.want)
		}
	}
}
