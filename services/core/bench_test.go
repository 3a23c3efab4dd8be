package core_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkGetParticipantsByProject is the hot path of OpenTeraPlus over HTTP, through the
// whole server (gateway, gRPC, authentication, access rules, PostgreSQL), as a project admin.
// hack/loadtest measures the same request under concurrency against a running fleet.
//
//	go test ./core -run '^$' -bench GetParticipants
func BenchmarkGetParticipantsByProject(b *testing.B) {
	e := newEnv(b)
	for _, who := range []string{"user3", "user3/token"} {
		b.Run(map[bool]string{true: "token", false: "basic"}[who == "user3/token"], func(b *testing.B) {
			auth := e.auth(who)
			req, _ := http.NewRequest("GET", e.base+"/api/user/participants?id_project=1", nil)
			req.Header.Set("Authorization", auth)
			for b.Loop() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
