package core_test

// Table-driven checks shared by the resource tests.

// listCase is a GET of a list as who with a query, expecting the ids under the test's key.
type listCase struct {
	who, q string
	want   []int
}

// lists GETs path?q for every case and compares the ids under key.
func (e *env) lists(path, key string, cases ...listCase) {
	e.t.Helper()
	for _, c := range cases {
		e.wantIDs(c.who, path+"?"+c.q, key, c.want...)
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
