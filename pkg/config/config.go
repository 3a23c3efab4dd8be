// Package config loads typed configuration the same way for every Tera binary: defaults set by
// the caller, then a YAML file (unknown keys are an error), then environment variables named by
// `env` struct tags, then command-line flags. Fields tagged `secret:"true"` (and passwords in
// URLs) are redacted when the configuration is printed.
package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Duration is a time.Duration written as "25s", "1m30s" in files and environment.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "25s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration must be a string like \"25s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	return d.Set(s)
}

// Set parses a duration string (also makes Duration a flag value).
func (d *Duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// Type names the flag type.
func (d *Duration) Type() string { return "duration" }

// LoadFile merges a YAML file into dst; unknown keys are an error so typos do not pass silently.
func LoadFile(path string, dst any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	if err := yaml.UnmarshalStrict(b, dst); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	return nil
}

// ApplyEnv overrides fields tagged `env:"NAME"` with the environment variables that are set.
func ApplyEnv(dst any) error {
	return walk(reflect.ValueOf(dst).Elem(), "", func(f reflect.Value, sf reflect.StructField, path string) error {
		name := sf.Tag.Get("env")
		if name == "" {
			return nil
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return nil
		}
		if err := setString(f, v); err != nil {
			return fmt.Errorf("environment %s (%s): %w", name, path, err)
		}
		return nil
	})
}

func setString(f reflect.Value, v string) error {
	if f.CanAddr() {
		if s, ok := f.Addr().Interface().(interface{ Set(string) error }); ok {
			return s.Set(v)
		}
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(v)
	case reflect.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %s", f.Type())
		}
		parts := strings.Split(v, ",")
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

func walk(v reflect.Value, prefix string, fn func(reflect.Value, reflect.StructField, string) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := strings.Split(sf.Tag.Get("json"), ",")[0]
		if name == "" {
			name = sf.Name
		}
		path := name
		if sf.Anonymous {
			// Embedded structs flatten, as they do in the YAML file.
			path = prefix
		} else if prefix != "" {
			path = prefix + "." + name
		}
		f := v.Field(i)
		if err := fn(f, sf, path); err != nil {
			return err
		}
		if f.Kind() == reflect.Struct && sf.Type != reflect.TypeOf(Duration(0)) {
			if err := walk(f, path, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Redacted renders the configuration as flat `key=value` pairs with secrets hidden, for the
// one start-up log line.
func Redacted(cfg any) []any {
	var out []any
	_ = walk(reflect.ValueOf(cfg), "", func(f reflect.Value, sf reflect.StructField, path string) error {
		if f.Kind() == reflect.Struct && sf.Type != reflect.TypeOf(Duration(0)) {
			return nil
		}
		var val any = f.Interface()
		switch {
		case sf.Tag.Get("secret") == "true":
			if !f.IsZero() {
				val = "[redacted]"
			}
		case f.Kind() == reflect.String:
			val = RedactURL(f.String())
		case sf.Type == reflect.TypeOf(Duration(0)):
			val = f.Interface().(Duration).String()
		}
		out = append(out, path, val)
		return nil
	})
	return out
}

// RedactURL hides the password of a URL (postgres://u:secret@h/db) and any password= query
// parameter; other strings are returned unchanged.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "redacted")
		u.RawQuery = q.Encode()
	}
	return strings.Replace(u.String(), "redacted@", "[redacted]@", 1)
}
