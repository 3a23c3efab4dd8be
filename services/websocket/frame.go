package websocket

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/pyjson"
)

// OpenTera's clients read websocket frames as Python's
// json_format.MessageToJson(TeraMessage, always_print_fields_with_no_presence=True) prints them,
// and some compare them as text. protojson cannot give those bytes (it randomises whitespace on
// purpose), so this file prints them itself, following json_format and json.dumps(indent=2,
// ensure_ascii=True): fields set come first in field-number order, then the unset ones in
// declaration order with their defaults (singular messages and oneof members excepted); Any puts
// "@type" first; 64-bit integers are strings, enums their names, doubles Python's repr.

const (
	ourPackage      = "tera.events.v1."
	openTeraPackage = "opentera.protobuf."
)

// Frame is the websocket frame of an event: TeraMessage{message: Any(ev)} printed as OpenTera does.
func Frame(ev *eventsv1.TeraEvent) ([]byte, error) {
	a, err := anypb.New(ev)
	if err != nil {
		return nil, fmt.Errorf("pack event: %w", err)
	}
	return MessageToJSON(&eventsv1.TeraMessage{Message: a})
}

// MessageToJSON prints m as OpenTera's Python MessageToJson does, with OpenTera's package name in
// every "@type".
func MessageToJSON(m proto.Message) ([]byte, error) {
	var p printer
	n, err := p.message(m.ProtoReflect())
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	write(&b, n, 0)
	return []byte(b.String()), nil
}

// node is an intermediate JSON value: *object, list or a literal already encoded.
type node any

type object struct {
	keys []string
	vals []node
}

func (o *object) add(k string, v node) { o.keys = append(o.keys, k); o.vals = append(o.vals, v) }

type list []node

type literal string

type printer struct{}

func (p *printer) message(m protoreflect.Message) (node, error) {
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		return p.anyMessage(m)
	}
	o := &object{}
	return o, p.fields(m, o)
}

func (p *printer) fields(m protoreflect.Message, o *object) error {
	var set []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		set = append(set, fd)
		return true
	})
	slices.SortFunc(set, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number()) - int(b.Number()) })
	done := map[string]bool{}
	for _, fd := range set {
		v, err := p.field(fd, m.Get(fd))
		if err != nil {
			return err
		}
		o.add(fd.JSONName(), v)
		done[fd.JSONName()] = true
	}
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if (!fd.IsList() && fd.Kind() == protoreflect.MessageKind) || fd.ContainingOneof() != nil || done[fd.JSONName()] {
			continue
		}
		if fd.IsList() {
			o.add(fd.JSONName(), list{})
			continue
		}
		v, err := p.scalar(fd, fd.Default())
		if err != nil {
			return err
		}
		o.add(fd.JSONName(), v)
	}
	return nil
}

func (p *printer) field(fd protoreflect.FieldDescriptor, v protoreflect.Value) (node, error) {
	if fd.IsMap() {
		return nil, fmt.Errorf("field %s: maps are not printed", fd.FullName())
	}
	if !fd.IsList() {
		return p.scalar(fd, v)
	}
	l := v.List()
	out := make(list, 0, l.Len())
	for i := range l.Len() {
		n, err := p.scalar(fd, l.Get(i))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (p *printer) scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) (node, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return p.message(v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return literal(pyjson.Quote(string(ev.Name()))), nil
		}
		return literal(strconv.Itoa(int(v.Enum()))), nil
	case protoreflect.BoolKind:
		return literal(strconv.FormatBool(v.Bool())), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return literal(strconv.FormatInt(v.Int(), 10)), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return literal(strconv.FormatUint(v.Uint(), 10)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return literal(pyjson.Quote(strconv.FormatInt(v.Int(), 10))), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return literal(pyjson.Quote(strconv.FormatUint(v.Uint(), 10))), nil
	case protoreflect.FloatKind:
		// json_format's ToShortestFloat: the shortest decimal that is the same float32.
		f, _ := strconv.ParseFloat(strconv.FormatFloat(v.Float(), 'g', -1, 32), 64)
		return floatLiteral(f), nil
	case protoreflect.DoubleKind:
		return floatLiteral(v.Float()), nil
	case protoreflect.StringKind:
		return literal(pyjson.Quote(v.String())), nil
	case protoreflect.BytesKind:
		return literal(pyjson.Quote(base64.StdEncoding.EncodeToString(v.Bytes()))), nil
	}
	return nil, fmt.Errorf("field %s: kind %v is not printed", fd.FullName(), fd.Kind())
}

func (p *printer) anyMessage(m protoreflect.Message) (node, error) {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		a = &anypb.Any{}
		b, err := proto.Marshal(m.Interface())
		if err != nil {
			return nil, err
		}
		if err := proto.Unmarshal(b, a); err != nil {
			return nil, err
		}
	}
	if a.TypeUrl == "" && len(a.Value) == 0 {
		return &object{}, nil
	}
	mt, err := resolve(a.TypeUrl)
	if err != nil {
		return nil, err
	}
	sub := mt.New()
	if err := proto.Unmarshal(a.Value, sub.Interface()); err != nil {
		return nil, fmt.Errorf("decode %s: %w", a.TypeUrl, err)
	}
	o := &object{}
	o.add("@type", literal(pyjson.Quote(openTeraURL(a.TypeUrl))))
	return o, p.fields(sub, o)
}

// resolve finds the Go type of a type URL, OpenTera's package name standing for ours.
func resolve(url string) (protoreflect.MessageType, error) {
	prefix, name := splitURL(url)
	if rest, ok := strings.CutPrefix(name, openTeraPackage); ok {
		name = ourPackage + rest
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(prefix + name)
	if err != nil {
		return nil, fmt.Errorf("unknown message type %q: %w", url, err)
	}
	return mt, nil
}

func openTeraURL(url string) string {
	prefix, name := splitURL(url)
	if rest, ok := strings.CutPrefix(name, ourPackage); ok {
		name = openTeraPackage + rest
	}
	return prefix + name
}

func splitURL(url string) (prefix, name string) {
	i := strings.LastIndexByte(url, '/')
	return url[:i+1], url[i+1:]
}

// floatLiteral is Python's repr of a float (json.dumps), NaN and infinities as json_format's
// strings.
func floatLiteral(f float64) node {
	switch {
	case math.IsNaN(f):
		return literal(`"NaN"`)
	case math.IsInf(f, 1):
		return literal(`"Infinity"`)
	case math.IsInf(f, -1):
		return literal(`"-Infinity"`)
	}
	return literal(pyjson.FloatRepr(f))
}

// write is json.dumps(indent=2): ", " never, "," at line ends, ": " after keys, {} and [] when
// empty.
func write(b *strings.Builder, n node, depth int) {
	switch v := n.(type) {
	case literal:
		b.WriteString(string(v))
	case *object:
		if len(v.keys) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{")
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n")
			indent(b, depth+1)
			b.WriteString(pyjson.Quote(k))
			b.WriteString(": ")
			write(b, v.vals[i], depth+1)
		}
		b.WriteString("\n")
		indent(b, depth)
		b.WriteString("}")
	case list:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[")
		for i, e := range v {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n")
			indent(b, depth+1)
			write(b, e, depth+1)
		}
		b.WriteString("\n")
		indent(b, depth)
		b.WriteString("]")
	}
}

func indent(b *strings.Builder, depth int) {
	for range depth {
		b.WriteString("  ")
	}
}
