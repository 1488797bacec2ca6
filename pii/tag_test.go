package pii_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tillid/tillid/pii"
)

type (
	badUnknownAction struct {
		A string `pii:"encrpyt"`
	}
	badUnknownOption struct {
		A string `pii:"encrypt,clas=contact"`
	}
	badDuplicate struct {
		A string `pii:"encrypt,key=a,key=b"`
	}
	badUnexported struct {
		secret string `pii:"encrypt"`
	}
	badKind struct {
		N int `pii:"encrypt"`
	}
	badBool struct {
		Flag bool `pii:"deterministic"`
	}
	badStruct struct {
		C Contact `pii:"encrypt"`
	}
	badClass struct {
		A string `pii:"encrypt,class=secret"`
	}
	badAAD struct {
		A string `pii:"encrypt,aad=Missing"`
	}
	badAADProtected struct {
		ID string `pii:"encrypt"`
		A  string `pii:"encrypt,aad=ID"`
	}
	badMaxLen struct {
		A string `pii:"encrypt,maxlen=-3"`
	}
	badEmpty struct {
		A string `pii:""`
	}
	badRedactOption struct {
		A string `pii:"redact,key=x"`
	}
	badFlagValue struct {
		A string `pii:"encrypt,migrate=yes"`
	}
	badKeyName struct {
		A string `pii:"encrypt,key=Upper"`
	}
	badValueType struct {
		V pii.Value[map[string]int] `pii:"encrypt"`
	}
	badUntaggedValue struct {
		V pii.Value[int]
	}
	badRawMessage struct {
		J json.RawMessage `pii:"encrypt"`
	}
	badNested struct {
		Inner []*badKind
	}
	badChan struct {
		C chan string `pii:"encrypt"`
	}
	badAction struct {
		A string `pii:"encrypt=yes"`
	}
)

func TestBadTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		v        any
		wantPath string
		wantText string
	}{
		{"unknown action", badUnknownAction{}, "badUnknownAction.A", `unknown action "encrpyt"`},
		{"unknown option", badUnknownOption{}, "badUnknownOption.A", `unknown option "clas"`},
		{"duplicate option", badDuplicate{}, "badDuplicate.A", "twice"},
		{"unexported field", badUnexported{}, "badUnexported.secret", "unexported"},
		{"int field", badKind{}, "badKind.N", "pii.Value[int]"},
		{"bool field", badBool{}, "badBool.Flag", "pii.Value[bool]"},
		{"struct field", badStruct{}, "badStruct.C", "tag the fields of Contact"},
		{"unknown class", badClass{}, "badClass.A", "unknown class"},
		{"aad to a missing field", badAAD{}, "badAAD.A", "no field Missing"},
		{"aad to a protected field", badAADProtected{}, "badAADProtected.A", "must not be protected"},
		{"negative maxlen", badMaxLen{}, "badMaxLen.A", "maxlen"},
		{"empty tag", badEmpty{}, "badEmpty.A", "empty tag"},
		{"option not for redact", badRedactOption{}, "badRedactOption.A", `unknown option "key" for redact`},
		{"flag with a value", badFlagValue{}, "badFlagValue.A", "takes no value"},
		{"bad key name", badKeyName{}, "badKeyName.A", "key=Upper"},
		{"unsupported Value type", badValueType{}, "badValueType.V", "BinaryMarshaler"},
		{"untagged Value", badUntaggedValue{}, "badUntaggedValue.V", "no pii tag"},
		{"json.RawMessage", badRawMessage{}, "badRawMessage.J", "JSON"},
		{"nested bad type", badNested{}, "badKind.N", "pii.Value[int]"},
		{"channel", badChan{}, "badChan.C", "not supported"},
		{"action with value", badAction{}, "badAction.A", "takes no value"},
	}
	p, _ := newProtector(t)
	for _, tt := range tests {
		err := pii.Validate(tt.v)
		if !errors.Is(err, pii.ErrInvalidTag) {
			t.Errorf("%s: Validate = %v, want ErrInvalidTag", tt.name, err)
			continue
		}
		var fe *pii.FieldError
		assert.False(t, !errors.As(err, &fe) || fe.Path != tt.wantPath, "%s: Validate = %v, want a FieldError at %s", tt.name, err, tt.wantPath)
		assert.False(t, !strings.Contains(err.Error(), tt.wantText), "%s: Validate = %q, want it to mention %q", tt.name, err, tt.wantText)
		// Protect and Reveal fail the same way, every time (the error is cached).
		ptr := reflect.New(reflect.TypeOf(tt.v)).Interface()
		for range 2 {
			if perr := p.Protect(ctx, ptr); perr == nil || perr.Error() != err.Error() {
				t.Errorf("%s: Protect = %v, want %v", tt.name, perr, err)
			}
			if rerr := p.Reveal(ctx, ptr); rerr == nil || rerr.Error() != err.Error() {
				t.Errorf("%s: Reveal = %v, want %v", tt.name, rerr, err)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, v := range []any{Shapes{}, &Shapes{}, reflect.TypeFor[Shapes](), Node{}, struct{ A int }{}} {
		assert.NoError(t, pii.Validate(v), "Validate(%T)", v)
	}
	for _, v := range []any{nil, "x", 3, []Contact{}} {
		assert.ErrorIs(t, pii.Validate(v), pii.ErrInvalidTarget, "Validate(%T)", v)
	}
	assert.ErrorIs(t, pii.Validate(badKind{}), pii.ErrInvalidTag, "Register[badKind]")
}

// A struct without tags is a no-op, not an error: a generic save hook may
// pass every model through Protect.
func TestNoTags(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	v := struct{ A, B string }{"a", "b"}
	if err := p.Protect(ctx, &v); err != nil || v.A != "a" {
		t.Errorf("Protect(untagged struct) = %v, %+v", err, v)
	}
}

type badMapKey struct {
	ByContact map[Contact]int
}

type badMapKeyPtr struct {
	L []map[*Contact]int
}

func TestTaggedMapKeysRefused(t *testing.T) {
	t.Parallel()
	for _, v := range []any{badMapKey{}, badMapKeyPtr{}} {
		if err := pii.Validate(v); !errors.Is(err, pii.ErrInvalidTag) || !strings.Contains(err.Error(), "map key") {
			t.Errorf("Validate(%T) = %v, want ErrInvalidTag about map keys", v, err)
		}
	}
	assert.NoError(t, pii.Validate(struct{ M map[string]Contact }{}), "a map with tagged values and plain keys")
}
