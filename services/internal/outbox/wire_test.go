package outbox

import (
	"testing"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
)

// The relay's hand-rolled encoding is byte-identical to the generated tera.events.v1 message
// (itself wire-compatible with opentera.protobuf.DatabaseEvent).
func TestDatabaseEventWireFormat(t *testing.T) {
	for _, c := range []struct {
		e     EventType
		model string
		value string
	}{{Create, "participant", `{"id_participant": 1, "participant_name": "Participant #1"}`}, {Delete, "site", `{"id_site": 2}`}, {Update, "x", ""}} {
		got := MarshalDatabaseEvent(c.e, c.model, c.value)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&eventsv1.DatabaseEvent{
			Type: eventsv1.DatabaseEvent_EventType(c.e), ObjectType: c.model, ObjectValue: c.value})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%v: got %x, want %x", c, got, want)
		}
		var back eventsv1.DatabaseEvent
		if err := proto.Unmarshal(got, &back); err != nil || back.GetObjectValue() != c.value || back.GetType() != eventsv1.DatabaseEvent_EventType(c.e) {
			t.Errorf("round trip: %v %v", &back, err)
		}
	}
}
