package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name    string   `json:"name"`
	Timeout Duration `json:"timeout"`
	DB      struct {
		URL      string `json:"url" env:"TEST_CFG_DB_URL"`
		Password string `json:"password" secret:"true"`
	} `json:"db"`
	Debug bool `json:"debug" env:"TEST_CFG_DEBUG"`
}

func TestFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("name: a\ntimeout: 3s\ndb:\n  url: postgres://u:pw@h/db\n  password: hunter2\n"), 0o600)
	var c sample
	c.Timeout = Duration(time.Second)
	if err := LoadFile(path, &c); err != nil {
		t.Fatal(err)
	}
	if c.Timeout.D() != 3*time.Second || c.Name != "a" {
		t.Fatalf("file not applied: %+v", c)
	}
	t.Setenv("TEST_CFG_DEBUG", "true")
	t.Setenv("TEST_CFG_DB_URL", "postgres://x:secretpw@h2/db")
	if err := ApplyEnv(&c); err != nil {
		t.Fatal(err)
	}
	if !c.Debug || !strings.Contains(c.DB.URL, "h2") {
		t.Fatalf("env not applied: %+v", c)
	}
	flat := Redacted(c)
	s := ""
	for _, v := range flat {
		s += " " + strings.TrimSpace(toString(v))
	}
	if strings.Contains(s, "secretpw") || strings.Contains(s, "hunter2") {
		t.Fatalf("secret leaked: %s", s)
	}
	if !strings.Contains(s, "db.url") || !strings.Contains(s, "3s") {
		t.Fatalf("missing fields: %s", s)
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return ""
}

func TestUnknownKeyIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("nmae: typo\n"), 0o600)
	var c sample
	if err := LoadFile(path, &c); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Fatalf("want error naming the unknown key, got %v", err)
	}
}

func TestBadEnvValue(t *testing.T) {
	t.Setenv("TEST_CFG_DEBUG", "maybe")
	var c sample
	if err := ApplyEnv(&c); err == nil || !strings.Contains(err.Error(), "TEST_CFG_DEBUG") {
		t.Fatalf("want error naming the variable, got %v", err)
	}
}
