package core_test

// Table-driven checks shared by the resource tests.

// listCase is a GET of a list as who with a query (none when empty), expecting the ids under
// the test's key in order.
type listCase struct {
	who, q string
	want   []int
}

// of is the case's request path on base.
func (c listCase) of(base string) string { return withQuery(base, c.q) }

// withQuery is path with the query q, if any.
func withQuery(path, q string) string {
	if q == "" {
		return path
	}
	return path + "?" + q
}

// lists GETs path?q for every case and compares the ids under key.
func (e *env) lists(path, key string, cases []listCase) {
	e.t.Helper()
	for _, c := range cases {
		e.wantIDs(c.who, c.of(path), key, c.want...)
	}
}

// linkCases is lists for a link listing: the link ids under key, -1 for an unlinked
// counterpart (whose link id is null).
func (e *env) linkCases(path, key string, cases []listCase) {
	e.t.Helper()
	for _, c := range cases {
		if got := nullableIDs(e.list(c.who, c.of(path)), key); !eqInts(got, c.want) {
			e.t.Errorf("GET %s as %s: %s %v, want %v", c.of(path), c.who, key, got, c.want)
		}
	}
}

// wantIDs GETs path as who expecting 200 and a list whose ids under key are want, in order.
func (e *env) wantIDs(who, path, key string, want ...int) {
	e.t.Helper()
	if got := ids(e.list(who, path), key); !eqInts(got, want) {
		e.t.Errorf("GET %s as %s: %s %v, want %v", path, who, key, got, want)
	}
}

// call is one request as who expecting a status; arg is the query of a GET or DELETE ("?…"),
// the body of a POST.
type call struct {
	who    string
	status int
	arg    string
}

// calls sends every call to method path and checks its status.
func (e *env) calls(method, path string, cs ...call) {
	e.t.Helper()
	for _, c := range cs {
		if method == "POST" {
			e.expect(c.status, c.who, method, path, c.arg)
		} else {
			e.expect(c.status, c.who, method, path+c.arg, nil)
		}
	}
}
