// Command loadtest measures req/s and latency percentiles of one OpenTera user API request
// (by default GET /api/user/participants?id_project=1) against a running Tera (or OpenTera)
// server, once with a token and once with HTTP Basic, at a fixed concurrency.
//
//	tera dev --test-data --data-dir=/tmp/tera-load &
//	go run ./hack/loadtest -url http://127.0.0.1:40075 -user admin:admin -c 8 -d 15s
//
// The token comes from GET /api/user/login with the Basic credentials (or -token). Every
// answer must be 200; anything else is counted and reported as an error.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:40075", "server base URL")
	path := flag.String("path", "/api/user/participants?id_project=1", "request path and query")
	user := flag.String("user", "admin:admin", "username:password for Basic and for the login")
	token := flag.String("token", "", "user token (default: obtained from /api/user/login)")
	conc := flag.Int("c", 8, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration of each run")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up before each run (not measured)")
	only := flag.String("auth", "", `run only this kind: "token" or "basic" (default: both)`)
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2}, Timeout: 30 * time.Second}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(*user))
	tok := *token
	if tok == "" {
		var err error
		if tok, err = login(client, *base, basic); err != nil {
			fmt.Fprintln(os.Stderr, "login:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("GET %s  concurrency %d  %s per run\n", *path, *conc, *dur)
	for _, run := range []struct{ name, auth string }{{"token", "OpenTera " + tok}, {"basic", basic}} {
		if *only != "" && *only != run.name {
			continue
		}
		_ = measure(client, *base+*path, run.auth, *conc, *warm)
		r := measure(client, *base+*path, run.auth, *conc, *dur)
		fmt.Printf("%-6s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  n=%d errors=%d\n",
			run.name, r.rps, ms(r.p50), ms(r.p99), r.n, r.errors)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func login(c *http.Client, base, basic string) (string, error) {
	req, _ := http.NewRequest("GET", base+"/api/user/login", nil)
	req.Header.Set("Authorization", basic)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out struct {
		UserToken string `json:"user_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.UserToken == "" {
		return "", fmt.Errorf("no user_token in %s", body)
	}
	return out.UserToken, nil
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	n        int
	errors   int
}

func measure(c *http.Client, url, auth string, conc int, d time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				req.Header.Set("Authorization", auth)
				t0 := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						bad++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	r := result{n: len(lat), errors: errs, rps: float64(len(lat)) / el.Seconds()}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)*50/100]
		r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return r
}
