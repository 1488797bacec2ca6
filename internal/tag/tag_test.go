package tag

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Tag
	}{
		{"action only", "encrypt", Tag{Action: Item{Name: "encrypt"}}},
		{"dash", "-", Tag{Action: Item{Name: "-"}}},
		{"options", "encrypt,class=contact,key=crm", Tag{Action: Item{Name: "encrypt"}, Options: []Item{
			{Name: "class", Value: "contact", HasValue: true}, {Name: "key", Value: "crm", HasValue: true}}}},
		{"action with value", "index=Email", Tag{Action: Item{Name: "index", Value: "Email", HasValue: true}}},
		{"flag option", "encrypt,migrate", Tag{Action: Item{Name: "encrypt"}, Options: []Item{{Name: "migrate"}}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("%s: Parse(%q) error %v", tt.name, tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: Parse(%q) (-want +got):\n%s", tt.name, tt.in, diff)
		}
		if got.String() != tt.in {
			t.Errorf("%s: Parse(%q).String() = %q, want the input", tt.name, tt.in, got.String())
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"", ",", "encrypt,", ",encrypt", "encrypt,,key=a", "encrypt,key=a,key=b", "encrypt,encrypt",
		"Encrypt", "encrypt,key=", "encrypt,=a", "encrypt, key=a", "encrypt,key=a b", "encrypt,key=a=b", "enc rypt", "-,key=a"} {
		if _, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error = %v, want ErrSyntax", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"encrypt", "deterministic,class=contact,key=k,aad=ID", "-", "redact", "index=Email,normalize=email,bits=32", "a,,b", "x=y=z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(tg.String())
		if err != nil {
			t.Fatalf("Parse(%q) accepted, but its String %q does not re-parse: %v", s, tg.String(), err)
		}
		if diff := cmp.Diff(tg, again); diff != "" {
			t.Fatalf("re-parse of %q differs (-first +second):\n%s", s, diff)
		}
	})
}
