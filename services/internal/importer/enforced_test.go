package importer

import "testing"

// A Tera unique index needs no query when a unique index of the source's, on some of its plain
// columns, implies it; an expression or a column set the source does not cover is checked.
func TestEnforcedImpliesUnique(t *testing.T) {
	e := enforced{unique: [][]string{{"session_uuid"}, {"id_session", "id_participant"}}}
	for _, c := range []struct {
		exprs []string
		want  bool
	}{
		{[]string{"session_uuid"}, true},
		{[]string{"session_uuid", "deleted_at"}, true}, // unique on part of the key: unique on the key
		{[]string{"id_participant", "id_session"}, true},
		{[]string{"id_session"}, false},
		{[]string{"lower(session_uuid)"}, false},
		{[]string{`"session_uuid"`}, true},
		{[]string{`"Session UUID"`}, false},
		{nil, false},
	} {
		if got := e.impliesUnique(c.exprs); got != c.want {
			t.Errorf("impliesUnique(%q) = %v, want %v", c.exprs, got, c.want)
		}
	}
	f := enforced{fks: []sourceFK{{cols: []string{"id_session"}, table: "t_sessions", refs: []string{"id_session"}}}}
	if !f.impliesReference([]string{"id_session"}, "t_sessions", []string{"id_session"}) ||
		f.impliesReference([]string{"id_session"}, "t_participants", []string{"id_session"}) ||
		f.impliesReference([]string{"id_participant"}, "t_sessions", []string{"id_session"}) {
		t.Error("impliesReference")
	}
}
