package pyjson

import "testing"

// Expected values are what Python 3.11's json.dumps(json.loads(raw)) printed.
func TestDumpsLikePython(t *testing.T) {
	for raw, want := range map[string]string{
		`{"key": true}`: `{"key": true}`,
		`{"b":1,"a":[1,2.50,{"x":null}],"é":"ü🤖","n":-0.0,"big":12345678901234567890,"e":1E5,"s":1e-7}`: `{"b": 1, "a": [1, 2.5, {"x": null}], "\u00e9": "\u00fc\ud83e\udd16", "n": -0.0, "big": 12345678901234567890, "e": 100000.0, "s": 1e-07}`,
		`[]`:  `[]`,
		`{}`:  `{}`,
		`"x"`: `"x"`,
		`12`:  `12`,
		`3.0`: `3.0`,
		`{"battery": 0.1, "nested": {"deep": [true, false]}}`: `{"battery": 0.1, "nested": {"deep": [true, false]}}`,
	} {
		got, err := Dumps([]byte(raw))
		if err != nil || got != want {
			t.Errorf("Dumps(%s) = %s, %v; want %s", raw, got, err, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":}`, `[1,]`, `1 2`} {
		if _, err := Dumps([]byte(bad)); err == nil {
			t.Errorf("Dumps(%q) accepted invalid JSON", bad)
		}
	}
}
