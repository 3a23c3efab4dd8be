// Package pyjson prints JSON the way Python's json module does, where OpenTera's clients see
// Python's bytes: strings as json.dumps(ensure_ascii=True) quotes them, floats as float.__repr__,
// and whole values as json.dumps(v) with its default ", " and ": " separators (key order kept).
package pyjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Quote is json.dumps(s, ensure_ascii=True): everything outside space..'~' is escaped, as
// \uXXXX (lower-case, surrogate pairs above U+FFFF) unless it has a short escape. Invalid UTF-8
// becomes U+FFFD.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= ' ' && r <= '~':
				b.WriteRune(r)
			case r > 0xFFFF:
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FloatRepr formats like Python's float.__repr__: the shortest round-trip digits, positional
// with at least one decimal when the exponent is in [-4, 16), else d.ddde±XX. Callers handle
// NaN and infinities.
func FloatRepr(f float64) string {
	s := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	switch {
	case exp < -4 || exp >= 16:
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		out = fmt.Sprintf("%se%s%02d", m, sign, exp)
	case exp < 0:
		out = "0." + strings.Repeat("0", -exp-1) + digits
	case len(digits) <= exp+1:
		out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	default:
		out = digits[:exp+1] + "." + digits[exp+1:]
	}
	if neg {
		out = "-" + out
	}
	return out
}

// Dumps re-prints a JSON value as Python's json.dumps(json.loads(raw)) would: ", " and ": "
// separators, object keys in their order, integers as written, other numbers as floats.
func Dumps(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b strings.Builder
	if err := dumpValue(dec, &b); err != nil {
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", fmt.Errorf("trailing data after the JSON value")
	}
	return b.String(), nil
}

func dumpValue(dec *json.Decoder, b *strings.Builder) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return dumpToken(dec, b, tok)
}

func dumpToken(dec *json.Decoder, b *strings.Builder, tok json.Token) error {
	switch t := tok.(type) {
	case json.Delim:
		closing := json.Delim('}')
		if t == '[' {
			closing = ']'
		}
		b.WriteRune(rune(t))
		for i := 0; ; i++ {
			next, err := dec.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			if next == closing {
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			if t == '{' {
				key, _ := next.(string)
				b.WriteString(Quote(key))
				b.WriteString(": ")
				if err := dumpValue(dec, b); err != nil {
					return err
				}
				continue
			}
			if err := dumpToken(dec, b, next); err != nil {
				return err
			}
		}
		b.WriteRune(rune(closing))
	case string:
		b.WriteString(Quote(t))
	case json.Number:
		s := t.String()
		if !strings.ContainsAny(s, ".eE") {
			b.WriteString(s)
			return nil
		}
		f, err := t.Float64()
		if err != nil {
			return fmt.Errorf("invalid number %s", s)
		}
		b.WriteString(FloatRepr(f))
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// IsoTime is Python's datetime.isoformat() of an aware UTC datetime, as OpenTera's to_json()
// writes timestamps: microseconds only when there are some. Nil stays nil (JSON null).
func IsoTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	u := t.UTC()
	layout := "2006-01-02T15:04:05.000000+00:00"
	if u.Nanosecond()/1000 == 0 {
		layout = "2006-01-02T15:04:05+00:00"
	}
	s := u.Format(layout)
	return &s
}
