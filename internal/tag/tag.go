// Package tag parses the grammar of tillid's `pii:"..."` struct tags. It
// checks syntax only: which actions and options exist, and which go
// together, is decided by package pii.
//
// Grammar:
//
//	tag    = item *( "," item )
//	item   = name [ "=" value ]
//	name   = ( "a"-"z" ) *( "a"-"z" / "0"-"9" / "_" / "-" )
//	value  = 1*( any character but "," and white space )
//
// The first item is the action; the rest are options. A name may appear once.
package tag

import (
	"errors"
	"fmt"
	"strings"
)

// Item is one action or option: its name and, when written as name=value,
// its value.
type Item struct {
	Name     string
	Value    string
	HasValue bool
}

// String writes the item back in tag syntax.
func (it Item) String() string {
	if it.HasValue {
		return it.Name + "=" + it.Value
	}
	return it.Name
}

// Tag is a parsed tag: the action and the options in their written order.
type Tag struct {
	Action  Item
	Options []Item
}

// String writes the tag back in canonical tag syntax; Parse(t.String())
// returns t.
func (t Tag) String() string {
	var b strings.Builder
	b.WriteString(t.Action.String())
	for _, o := range t.Options {
		b.WriteByte(',')
		b.WriteString(o.String())
	}
	return b.String()
}

// Option returns the option named name and whether it is present.
func (t Tag) Option(name string) (Item, bool) {
	for _, o := range t.Options {
		if o.Name == name {
			return o, true
		}
	}
	return Item{}, false
}

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("tag syntax")

// Parse parses s. The special tag "-" parses as the action "-" with no
// options. Errors wrap ErrSyntax and quote the offending item, which is part
// of the source code and never a field value.
func Parse(s string) (Tag, error) {
	if s == "-" {
		return Tag{Action: Item{Name: "-"}}, nil
	}
	if s == "" {
		return Tag{}, fmt.Errorf("%w: empty tag; write an action such as \"encrypt\", or \"-\" for data that is not personal", ErrSyntax)
	}
	var t Tag
	seen := map[string]bool{}
	for i, raw := range strings.Split(s, ",") {
		it, err := parseItem(raw)
		if err != nil {
			return Tag{}, err
		}
		if seen[it.Name] {
			return Tag{}, fmt.Errorf("%w: %q appears twice", ErrSyntax, it.Name)
		}
		seen[it.Name] = true
		if i == 0 {
			t.Action = it
		} else {
			t.Options = append(t.Options, it)
		}
	}
	return t, nil
}

func parseItem(raw string) (Item, error) {
	if raw == "" {
		return Item{}, fmt.Errorf("%w: empty item (a stray comma?)", ErrSyntax)
	}
	name, value, hasValue := strings.Cut(raw, "=")
	if name == "" {
		return Item{}, fmt.Errorf("%w: %q has no name before '='", ErrSyntax, raw)
	}
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-')) {
			return Item{}, fmt.Errorf("%w: %q: names start with a-z and use a-z, 0-9, '_' and '-' only", ErrSyntax, raw)
		}
	}
	if hasValue {
		if value == "" {
			return Item{}, fmt.Errorf("%w: %q has an empty value", ErrSyntax, raw)
		}
		if strings.ContainsAny(value, " \t\r\n=") {
			return Item{}, fmt.Errorf("%w: %q: values hold no white space and no '='", ErrSyntax, raw)
		}
	}
	return Item{Name: name, Value: value, HasValue: hasValue}, nil
}
