package core_test

import (
	"strings"
	"testing"
)

// idCase is a GET as who with the query q, and the ids it must answer in order: want of the
// listing's key, and links of its nullable link key (candidates -1) when the listing has one.
type idCase struct {
	who, q string
	want   []int
	links  []int
}

// expectIDs runs every case against path.
func (e *env) expectIDs(t *testing.T, path, key, linkKey string, cases []idCase) {
	t.Helper()
	for _, c := range cases {
		got := e.list(c.who, withQuery(path, c.q))
		if !eqInts(ids(got, key), c.want) || linkKey != "" && !eqInts(nullableIDs(got, linkKey), c.links) {
			t.Errorf("%s %s?%s: %s %v / %s %v, want %v / %v", c.who, path, c.q, key, ids(got, key), linkKey,
				nullableIDs(got, linkKey), c.want, c.links)
		}
	}
}

// expectEach expects the same status of a body-less request to each path.
func (e *env) expectEach(want int, who, method string, paths ...string) {
	e.t.Helper()
	for _, p := range paths {
		e.expect(want, who, method, p, nil)
	}
}

// expectAnswer sends a request expecting a status and, blanks trimmed, exactly answer.
func (e *env) expectAnswer(want int, who, method, path string, body any, answer string) {
	e.t.Helper()
	if b := strings.TrimSpace(string(e.expect(want, who, method, path, body))); b != answer {
		e.t.Errorf("%s %s as %s: %s, want %s", method, path, who, b, answer)
	}
}

// expectContains sends a request expecting a status and an answer containing part.
func (e *env) expectContains(want int, who, method, path string, body any, part string) {
	e.t.Helper()
	if b := e.expect(want, who, method, path, body); !strings.Contains(string(b), part) {
		e.t.Errorf("%s %s as %s: %s, want it to contain %q", method, path, who, b, part)
	}
}

// postCase is a body POSTed and the status it must answer.
type postCase struct {
	st   int
	body any
}

// posts POSTs every case's body to path as who and checks its status; a wrong one does not
// stop the others.
func (e *env) posts(who, path string, cases []postCase) {
	e.t.Helper()
	for _, c := range cases {
		if st, b := e.do(who, "POST", path, c.body); st != c.st {
			e.t.Errorf("POST %s %v as %s: %d %s, want %d", path, c.body, who, st, b, c.st)
		}
	}
}

// expectPosts expects the same status of each body POSTed to path.
func (e *env) expectPosts(want int, who, path string, bodies ...any) {
	e.t.Helper()
	for _, b := range bodies {
		e.expect(want, who, "POST", path, b)
	}
}
