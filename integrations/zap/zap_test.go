package tillidzap_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	tillidzap "github.com/tillid/tillid/integrations/zap"
)

type Email string

func (e Email) String() string { return "masked" }

type Customer struct {
	Name string
	Mail Email `pii:"redact"`
}

// MarshalLogObject is a marshaller that prints the tagged field: the core
// must not call it.
func (c Customer) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("mail", string(c.Mail))
	return nil
}

// String prints the tagged field too.
func (c Customer) String() string { return string(c.Mail) }

type Order struct {
	ID     int
	Buyer  Customer
	backup Customer
	M      map[string]Customer
	P      *Customer
	L      []any
	Card   string `pii:"tokenize=card"`
	Owner  Owner
	Notes  map[string]string `pii:"redact,mask=first"`
}

// Owner names the data subject: its ID is personal data.
type Owner struct {
	ID string `pii:"subject"`
}

type leakError struct {
	Mail string `pii:"encrypt"`
}

func (e *leakError) Error() string { return "failed for " + e.Mail }

func order() Order {
	return Order{
		ID:     1,
		Buyer:  Customer{"X", "leak1@example.com"},
		backup: Customer{"Y", "leak2@example.com"},
		M:      map[string]Customer{"leak-key@example.com": {"Z", "leak3@example.com"}},
		P:      &Customer{"W", "leak4@example.com"},
		L:      []any{Customer{"V", "leak5@example.com"}},
		Card:   "leak6-4111111111111111",
		Owner:  Owner{ID: "leak8-subject"},
		Notes:  map[string]string{"leak9@example.com": "leak9-note"},
	}
}

func newLogger(buf *bytes.Buffer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(tillidzap.NewCore(zapcore.NewCore(enc, zapcore.AddSync(buf), zapcore.DebugLevel)))
}

// P09: every path a struct can take into a zap log line is redacted.
func TestNoPathLeaks(t *testing.T) {
	o := order()
	c := o.Buyer
	wrapped := fmt.Errorf("saving: %w", &leakError{Mail: "leak7@example.com"})
	paths := []struct {
		name string
		log  func(l *zap.Logger)
	}{
		{"Any struct", func(l *zap.Logger) { l.Info("m", zap.Any("o", o)) }},
		{"Any pointer", func(l *zap.Logger) { l.Info("m", zap.Any("o", &o)) }},
		{"Reflect", func(l *zap.Logger) { l.Info("m", zap.Reflect("o", o)) }},
		{"Any map", func(l *zap.Logger) { l.Info("m", zap.Any("m", o.M)) }},
		{"Any slice", func(l *zap.Logger) { l.Info("m", zap.Any("l", []Customer{c})) }},
		{"Object with own marshaller", func(l *zap.Logger) { l.Info("m", zap.Object("c", c)) }},
		{"Any with own marshaller", func(l *zap.Logger) { l.Info("m", zap.Any("c", c)) }},
		{"Inline", func(l *zap.Logger) { l.Info("m", zap.Inline(c)) }},
		{"Objects", func(l *zap.Logger) { l.Info("m", zap.Objects("cs", []Customer{c})) }},
		{"Stringer", func(l *zap.Logger) { l.Info("m", zap.Stringer("c", c)) }},
		{"Dict", func(l *zap.Logger) { l.Info("m", zap.Dict("d", zap.Any("o", o))) }},
		{"With", func(l *zap.Logger) { l.With(zap.Any("o", o)).Info("m") }},
		{"Sugar Infow", func(l *zap.Logger) { l.Sugar().Infow("m", "o", o, "p", &o) }},
		{"Error", func(l *zap.Logger) { l.Error("m", zap.Error(&leakError{Mail: "leak7@example.com"})) }},
		{"wrapped Error", func(l *zap.Logger) { l.Error("m", zap.Error(wrapped)) }},
		{"Field", func(l *zap.Logger) { l.Info("m", tillidzap.Field("o", o)) }},
		{"Any subject", func(l *zap.Logger) { l.Info("m", zap.Any("owner", o.Owner)) }},
		{"Any map by email", func(l *zap.Logger) { l.Info("m", zap.Any("m", map[string]int{"leak-key@example.com": 1})) }},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			var buf bytes.Buffer
			p.log(newLogger(&buf))
			out := buf.String()
			require.NotEmpty(t, out)
			assert.NotContains(t, out, "leak", "%s logged: %s", p.name, out)
		})
	}
}

// What is redacted still shows the rest, and plain fields pass unchanged.
func TestRedactedOutput(t *testing.T) {
	var buf bytes.Buffer
	err := errors.New("plain error")
	newLogger(&buf).Info("m", zap.Any("o", order()), zap.String("s", "kept"), zap.Error(err), zap.Stringer("e", Email("x")))
	out := buf.String()
	assert.Contains(t, out, `"Buyer":{"Name":"X","Mail":"[redacted]"}`)
	assert.Contains(t, out, `"Card":"[redacted]"`)
	assert.Contains(t, out, `"s":"kept"`)
	assert.Contains(t, out, `"error":"plain error"`)
	assert.Contains(t, out, `"e":"masked"`, "a named string's String method is still called")
	assert.False(t, strings.Contains(out, "backup"), "unexported fields are left out")
}

type zRec struct {
	ID  string
	CPR string `pii:"encrypt"`
}

// A user's ObjectMarshaler that reflects a tagged value gets an encoder
// that redacts it, through zap.Object and zap.Inline.
func TestUserMarshalerReflectingTagged(t *testing.T) {
	var buf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zapcore.DebugLevel)
	l := zap.New(tillidzap.NewCore(core))
	r := zRec{ID: "r", CPR: "010190-1234"}
	m := zapcore.ObjectMarshalerFunc(func(e zapcore.ObjectEncoder) error { return e.AddReflected("x", r) })
	l.Info("m", zap.Object("obj", m), zap.Inline(m))
	assert.NotContains(t, buf.String(), "010190", buf.String())
	assert.Contains(t, buf.String(), `"obj":{"x":{"ID":"r","CPR":"[redacted]"}}`, buf.String())
}
