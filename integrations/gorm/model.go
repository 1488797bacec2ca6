package tillidgorm

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gorm.io/gorm/schema"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/pii"
)

// model is what the plugin knows of one GORM schema: which columns hold
// protected values, and which struct fields a column-only copy keeps.
type model struct {
	schema *schema.Schema
	// columns are the protected columns, by DBName (action "nested": a
	// serialized struct holding pii-tagged fields).
	columns map[string]*column
	// derived are, by source field name, the index columns computed from it.
	derived map[string][]*column
	// back are the columns copied from a protected copy to the caller's
	// struct after an insert: those GORM may set (keys, timestamps,
	// defaults) and blind indexes; never a reversible protected column.
	back []*schema.Field
	// drop are the top-level struct fields that hold no column
	// (associations, ignored fields, and unexported and blank fields,
	// which GORM does not map): Protect and Reveal of a record skip them.
	drop []int
	// clear are the exported fields of drop: zero in a column-only copy.
	// Unexported and blank fields (a struct-level default `_ struct{}`)
	// cannot be set through reflection and are copied as they are:
	// neither GORM nor pii reads them.
	clear []int
	// fillable are the protected string columns that Reveal refuses empty
	// (all but redact and index).
	fillable []*column
	// refs are the top-level fields of a column-only copy that reach
	// memory shared with the caller's record (see detach).
	refs []int
	// subject is the field tagged pii:"subject", or nil.
	subject *schema.Field
	// err is the model's size error, returned on every write.
	err error
}

// column is one protected column.
type column struct {
	field   *schema.Field
	action  string
	sources []string // index=: the source field names
	aad     string   // aad=: the record ID field's name
	maxLen  int
	bits    int
}

// modelOf returns the plugin's view of s, built once per schema.
func (pl *Plugin) modelOf(s *schema.Schema) *model {
	if m, ok := pl.models.Load(s); ok {
		return m.(*model)
	}
	m := buildModel(s)
	actual, _ := pl.models.LoadOrStore(s, m)
	return actual.(*model)
}

func buildModel(s *schema.Schema) *model {
	m := &model{schema: s, columns: map[string]*column{}, derived: map[string][]*column{}}
	holds := map[int]bool{}
	for _, f := range s.Fields {
		if f.DBName == "" {
			continue
		}
		if len(f.StructField.Index) > 0 {
			holds[f.StructField.Index[0]] = true
		}
		c, err := parseColumn(f)
		if err != nil && m.err == nil {
			m.err = err
		}
		if _, tagged := f.Tag.Lookup("pii"); c == nil && !tagged && f.Serializer != nil && nestedTagged(f.FieldType) {
			// A serialized struct with protected fields: Protect protects
			// them, so every write must go through Protect.
			c = &column{field: f, action: "nested"}
		}
		if c == nil {
			if raw, ok := f.Tag.Lookup("pii"); ok {
				if t, err := tag.Parse(raw); err == nil && t.Action.Name == "subject" {
					m.subject = f
				}
			}
			m.back = append(m.back, f)
			continue
		}
		m.columns[f.DBName] = c
		if c.action == "index" {
			m.back = append(m.back, f)
			for _, src := range c.sources {
				m.derived[src] = append(m.derived[src], c)
			}
		}
		if err := checkSize(s, c); err != nil && m.err == nil {
			m.err = err
		}
	}
	for _, f := range s.Fields {
		if c := m.columns[f.DBName]; c != nil && f.DBName != "" && c.action != "redact" && c.action != "index" && f.FieldType.Kind() == reflect.String {
			m.fillable = append(m.fillable, c)
		}
	}
	for i := 0; i < s.ModelType.NumField(); i++ {
		// An unexported field (a blank `_ struct{}` carrying the struct's
		// default pii tag) holds no column and cannot be cleared: left out.
		if !holds[i] && s.ModelType.Field(i).IsExported() {
			m.drop = append(m.drop, i)
			if s.ModelType.Field(i).IsExported() {
				m.clear = append(m.clear, i)
			}
		}
	}
	m.refs = detachable(s.ModelType, m.drop)
	return m
}

// parseColumn returns the protected column of f, or nil when its pii tag
// is absent, "-" or an action that stores nothing protected (subject).
func parseColumn(f *schema.Field) (*column, error) {
	raw, ok := f.Tag.Lookup("pii")
	if !ok || raw == "-" {
		return nil, nil
	}
	t, err := tag.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("tillidgorm: %s.%s: %w: %v", f.Schema.Name, f.Name, pii.ErrInvalidTag, err)
	}
	if t.Action.Name == "subject" {
		return nil, nil
	}
	c := &column{field: f, action: t.Action.Name}
	if c.action == "hash" {
		c.action = "pseudonym"
	}
	if c.action == "index" {
		c.sources = strings.Split(t.Action.Value, "+")
	}
	for _, o := range t.Options {
		switch o.Name {
		case "maxlen":
			c.maxLen, _ = strconv.Atoi(o.Value)
		case "bits":
			c.bits, _ = strconv.Atoi(o.Value)
		case "aad":
			c.aad = o.Value
		}
	}
	return c, nil
}

// checkSize checks that a string column declared with a size (gorm tag
// size:N) holds every value Protect may store in it.
func checkSize(s *schema.Schema, c *column) error {
	f := c.field
	if f.Size <= 0 || f.IndirectFieldType.Kind() != reflect.String {
		return nil
	}
	var need int
	switch c.action {
	case "redact":
		return nil
	case "index", "pseudonym":
		a := pii.ActionBlindIndex
		if c.action == "pseudonym" {
			a = pii.ActionPseudonym
		}
		n := pii.IndexSize
		if c.bits > 0 {
			n = (c.bits + 7) / 8
		}
		need = pii.StoredLen(a, n)
	default:
		if c.maxLen == 0 {
			return fmt.Errorf("tillidgorm: %s.%s: column size %d can be exceeded by a protected value; add maxlen=%d to the pii tag (Protect then refuses longer values) or drop the size for a text column", s.Name, f.Name, f.Size, f.Size)
		}
		need = c.maxLen
	}
	if need > f.Size {
		return fmt.Errorf("tillidgorm: %s.%s: column size %d is too small for the %d bytes stored by %s; declare size:%d or drop the size for a text column", s.Name, f.Name, f.Size, need, c.action, need)
	}
	return nil
}

// bound reports whether the stored form of column c depends on its record:
// an aad= record ID or, in a model with a subject, the subject's keys.
func (m *model) bound(c *column) bool {
	return c.aad != "" || m.subject != nil
}
