package blobtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VerifySigV4 puts in front of an S3 server that checks nothing (gofakes3) what S3 checks of
// every request: an Authorization header of AWS Signature Version 4 (header form, as minio-go
// signs) whose access key is access, whose signature is the request's under secret, and that
// covers the host, x-amz-date, x-amz-content-sha256 and every other x-amz-* header sent. A
// body declared by its SHA-256 (x-amz-content-sha256) or an x-amz-checksum-crc32, -crc32c,
// -sha1 or -sha256 header must match it: the body's reader fails at its end otherwise, so the
// server refuses the request. Streaming (aws-chunked) payloads are refused: gofakes3 does not
// decode them in multipart parts, and the blob package never sends them.
//
// Refusals are S3's error documents with status 403 (AccessDenied, InvalidAccessKeyId,
// SignatureDoesNotMatch) or 400 (a malformed Authorization, a missing payload hash).
func VerifySigV4(next http.Handler, access, secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, code, err := checkSigV4(r, access, secret)
		if err != nil {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			if r.Method != http.MethodHead {
				xml.NewEncoder(w).Encode(struct {
					XMLName xml.Name `xml:"Error"`
					Code    string
					Message string
				}{Code: code, Message: err.Error()})
			}
			return
		}
		if err := verifyBody(r); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

const sigV4Algorithm = "AWS4-HMAC-SHA256"

func checkSigV4(r *http.Request, access, secret string) (int, string, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return http.StatusForbidden, "AccessDenied", errors.New("anonymous requests are refused")
	}
	rest, ok := strings.CutPrefix(auth, sigV4Algorithm+" ")
	if !ok {
		return http.StatusBadRequest, "AuthorizationHeaderMalformed", errors.New("not " + sigV4Algorithm)
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[3] != "s3" || cred[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return http.StatusBadRequest, "AuthorizationHeaderMalformed", fmt.Errorf("credential scope %q", fields["Credential"])
	}
	if cred[0] != access {
		return http.StatusForbidden, "InvalidAccessKeyId", fmt.Errorf("unknown access key %q", cred[0])
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || at.Format("20060102") != cred[1] {
		return http.StatusForbidden, "AccessDenied", fmt.Errorf("x-amz-date %q does not match the credential's date %s", amzDate, cred[1])
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return http.StatusBadRequest, "InvalidRequest", errors.New("missing x-amz-content-sha256")
	}
	if strings.HasPrefix(payload, "STREAMING-") {
		return http.StatusBadRequest, "NotImplemented", errors.New("streaming (aws-chunked) payloads are not verified by this test server")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.IsSorted(signed) {
		return http.StatusForbidden, "SignatureDoesNotMatch", errors.New("signed headers not sorted")
	}
	for _, must := range []string{"host", "x-amz-date", "x-amz-content-sha256"} {
		if !slices.Contains(signed, must) {
			return http.StatusForbidden, "AccessDenied", fmt.Errorf("%s is not signed", must)
		}
	}
	for k := range r.Header {
		if k := strings.ToLower(k); strings.HasPrefix(k, "x-amz-") && !slices.Contains(signed, k) {
			return http.StatusForbidden, "AccessDenied", fmt.Errorf("%s is sent but not signed", k)
		}
	}

	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + uriEncode(r.URL.Path, false) + "\n" + canonicalQuery(r) + "\n")
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			vals := r.Header.Values(h)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		canon.WriteString(h + ":" + v + "\n")
	}
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n" + payload)
	scope := strings.Join(cred[1:], "/")
	sum := sha256.Sum256([]byte(canon.String()))
	toSign := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + secret)
	for _, part := range cred[1:] {
		key = hmacSHA256(key, part)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return http.StatusForbidden, "SignatureDoesNotMatch", errors.New("the request signature does not match")
	}
	return 0, "", nil
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// canonicalQuery is SigV4's: every parameter URI-encoded, sorted by name then value.
func canonicalQuery(r *http.Request) string {
	var kv []string
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			kv = append(kv, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	slices.Sort(kv)
	return strings.Join(kv, "&")
}

// uriEncode is SigV4's encoding: every byte but A-Z a-z 0-9 - _ . ~ (and / in a path) as %XY.
func uriEncode(s string, slash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !slash {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// verifyBody wraps the body so that its last read fails when it does not match the digests
// the request declares.
func verifyBody(r *http.Request) error {
	var checks []digestCheck
	if p := r.Header.Get("X-Amz-Content-Sha256"); p != "UNSIGNED-PAYLOAD" {
		want, err := hex.DecodeString(p)
		if err != nil || len(want) != sha256.Size {
			return fmt.Errorf("x-amz-content-sha256 %q", p)
		}
		checks = append(checks, digestCheck{"x-amz-content-sha256", sha256.New(), want})
	}
	for name, h := range map[string]func() hash.Hash{
		"X-Amz-Checksum-Crc32":  func() hash.Hash { return crc32.NewIEEE() },
		"X-Amz-Checksum-Crc32c": func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
		"X-Amz-Checksum-Sha1":   sha1.New,
		"X-Amz-Checksum-Sha256": sha256.New,
	} {
		if v := r.Header.Get(name); v != "" {
			want, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return fmt.Errorf("%s %q", name, v)
			}
			checks = append(checks, digestCheck{strings.ToLower(name), h(), want})
		}
	}
	if len(checks) > 0 {
		r.Body = &verifyingBody{ReadCloser: r.Body, checks: checks}
	}
	return nil
}

type digestCheck struct {
	name string
	h    hash.Hash
	want []byte
}

type verifyingBody struct {
	io.ReadCloser
	checks []digestCheck
}

func (b *verifyingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	for _, c := range b.checks {
		c.h.Write(p[:n])
	}
	if errors.Is(err, io.EOF) {
		for _, c := range b.checks {
			if !bytes.Equal(c.h.Sum(nil), c.want) {
				return n, fmt.Errorf("body does not match its %s (BadDigest)", c.name)
			}
		}
	}
	return n, err
}
