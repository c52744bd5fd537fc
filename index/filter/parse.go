package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Parse reads a filter from JSON (the grammar is in the package
// documentation) and validates it under DefaultLimits. Every problem is an
// *Error naming its JSON path.
func Parse(data []byte) (*Filter, error) { return ParseWithLimits(data, DefaultLimits()) }

// ParseWithLimits is Parse under the given limits.
func ParseWithLimits(data []byte, lim Limits) (*Filter, error) {
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	p, err := newParser(data, lim)
	if err != nil {
		return nil, err
	}
	f := new(Filter)
	if err := p.filter(f, nil, 1); err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	v := validator{lim: lim, limits: true}
	if err := v.filter(f, nil, 1); err != nil {
		return nil, err
	}
	return f, nil
}

// UnmarshalJSON parses a filter as Parse does, so that a Filter can be a
// field of a request decoded with encoding/json.
func (f *Filter) UnmarshalJSON(data []byte) error {
	g, err := Parse(data)
	if err != nil {
		return err
	}
	*f = *g
	return nil
}

// UnmarshalJSON parses one condition: a field condition or a nested filter.
func (c *Condition) UnmarshalJSON(data []byte) error {
	lim := DefaultLimits()
	p, err := newParser(data, lim)
	if err != nil {
		return err
	}
	var d Condition
	if err := p.condition(&d, nil, 1); err != nil {
		return err
	}
	if err := p.end(); err != nil {
		return err
	}
	v := validator{lim: lim, limits: true}
	if err := v.condition(&d, nil, 1); err != nil {
		return err
	}
	*c = d
	return nil
}

// UnmarshalJSON parses {"value": …} or {"any": […]}.
func (m *Match) UnmarshalJSON(data []byte) error {
	lim := DefaultLimits()
	p, err := newParser(data, lim)
	if err != nil {
		return err
	}
	var d Match
	if err := p.match(&d, nil); err != nil {
		return err
	}
	if err := p.end(); err != nil {
		return err
	}
	v := validator{lim: lim, limits: true}
	if err := v.match(&d, nil); err != nil {
		return err
	}
	*m = d
	return nil
}

// UnmarshalJSON parses {"gt"|"gte"|"lt"|"lte": bound, …}.
func (r *Range) UnmarshalJSON(data []byte) error {
	p, err := newParser(data, DefaultLimits())
	if err != nil {
		return err
	}
	var d Range
	if err := p.rangeObject(&d, nil); err != nil {
		return err
	}
	if err := p.end(); err != nil {
		return err
	}
	if err := checkRange(&d, nil); err != nil {
		return err
	}
	*r = d
	return nil
}

// UnmarshalJSON parses a number or an RFC 3339 string.
func (b *Bound) UnmarshalJSON(data []byte) error {
	p, err := newParser(data, DefaultLimits())
	if err != nil {
		return err
	}
	d, err := p.bound(nil)
	if err != nil {
		return err
	}
	if err := p.end(); err != nil {
		return err
	}
	*b = *d
	return nil
}

// parser reads a filter from a stream of JSON tokens, so that it sees
// unknown and duplicate fields, the kind of every value and the nesting
// depth before it builds anything.
type parser struct {
	dec   *json.Decoder
	lim   Limits
	conds int
}

func newParser(data []byte, lim Limits) (*parser, error) {
	if !utf8.Valid(data) {
		return nil, errorf("", "not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return &parser{dec: dec, lim: lim}, nil
}

// token returns the next token, turning a syntax error into an *Error at p.
func (ps *parser) token(p *path) (json.Token, error) {
	tok, err := ps.dec.Token()
	if err == nil {
		return tok, nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, errorf(p.String(), "unexpected end of JSON input")
	}
	return nil, errorf(p.String(), "invalid JSON at byte %d: %v", ps.dec.InputOffset(), err)
}

// end checks that nothing but white space follows the value.
func (ps *parser) end() error {
	if _, err := ps.dec.Token(); err != io.EOF {
		return errorf("", "unexpected data after the JSON value at byte %d", ps.dec.InputOffset())
	}
	return nil
}

// kind names a token's JSON type for an error.
func kind(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '[' {
			return "array"
		}
		return "object"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// object reads an object whose opening brace has not been read, calling
// field for each member with the member's path; field must consume the
// value. Duplicate names are an error.
func (ps *parser) object(p *path, what string, field func(name string, q *path) error) error {
	tok, err := ps.token(p)
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return errorf(p.String(), "want %s (an object), got %s", what, kind(tok))
	}
	var seen []string
	for ps.dec.More() {
		tok, err := ps.token(p)
		if err != nil {
			return err
		}
		name := tok.(string) // the decoder yields only strings as member names
		for _, s := range seen {
			if s == name {
				return errorf(p.String(), "duplicate field %q", name)
			}
		}
		seen = append(seen, name)
		if err := field(name, p.field(name)); err != nil {
			return err
		}
	}
	_, err = ps.token(p) // '}'
	return err
}

// array reads an array or null (which reads as empty), calling elem for
// each element with its path.
func (ps *parser) array(p *path, up *path, name, what string, elem func(i int, q *path) error) error {
	tok, err := ps.token(p)
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return errorf(p.String(), "want %s (an array), got %s", what, kind(tok))
	}
	for i := 0; ps.dec.More(); i++ {
		if err := elem(i, up.elem(name, i)); err != nil {
			return err
		}
	}
	_, err = ps.token(p) // ']'
	return err
}

// filter reads a filter object into f; depth is f's depth.
func (ps *parser) filter(f *Filter, p *path, depth int) error {
	return ps.object(p, "a filter", func(name string, q *path) error {
		if list := f.list(name); list != nil {
			return ps.conditions(list, p, name, depth)
		}
		switch name {
		case "key", "match", "range", "exists":
			return errorf(p.String(), "unknown field %q (a filter has must, should and must_not; put field conditions in them)", name)
		}
		return errorf(p.String(), "unknown field %q (want must, should or must_not)", name)
	})
}

// list returns a pointer to f's clause called name, or nil.
func (f *Filter) list(name string) *[]Condition {
	switch name {
	case "must":
		return &f.Must
	case "should":
		return &f.Should
	case "must_not":
		return &f.MustNot
	}
	return nil
}

func (ps *parser) conditions(list *[]Condition, up *path, name string, depth int) error {
	return ps.array(up.field(name), up, name, "a list of conditions", func(i int, q *path) error {
		*list = append(*list, Condition{})
		return ps.condition(&(*list)[len(*list)-1], q, depth)
	})
}

// condition reads one condition of a filter at the given depth: a field
// condition or a nested filter (at depth+1). Mixed or empty conditions are
// left for the validator to report.
func (ps *parser) condition(c *Condition, p *path, depth int) error {
	ps.conds++
	if ps.conds > ps.lim.MaxConditions {
		return errorf(p.String(), "more than %d conditions", ps.lim.MaxConditions)
	}
	return ps.object(p, "a condition", func(name string, q *path) error {
		if list := (&Filter{}).list(name); list != nil {
			if c.Filter == nil {
				if depth+1 > ps.lim.MaxDepth {
					return errorf(p.String(), "nested deeper than %d levels", ps.lim.MaxDepth)
				}
				c.Filter = new(Filter)
			}
			return ps.conditions(c.Filter.list(name), p, name, depth+1)
		}
		switch name {
		case "key":
			tok, err := ps.token(q)
			if err != nil {
				return err
			}
			s, ok := tok.(string)
			if !ok {
				return errorf(q.String(), "want a string, got %s", kind(tok))
			}
			c.Key = s
			return nil
		case "match":
			c.Match = new(Match)
			return ps.match(c.Match, q)
		case "range":
			c.Range = new(Range)
			return ps.rangeObject(c.Range, q)
		case "exists":
			tok, err := ps.token(q)
			if err != nil {
				return err
			}
			b, ok := tok.(bool)
			if !ok {
				return errorf(q.String(), "want true or false, got %s", kind(tok))
			}
			c.Exists = &b
			return nil
		}
		return errorf(p.String(), "unknown field %q (want key with match, range or exists, or must, should, must_not)", name)
	})
}

func (ps *parser) match(m *Match, p *path) error {
	return ps.object(p, "a match", func(name string, q *path) error {
		switch name {
		case "value":
			v, err := ps.scalar(q)
			m.Value = v
			return err
		case "any":
			tok, err := ps.token(q)
			if err != nil {
				return err
			}
			if tok != json.Delim('[') {
				return errorf(q.String(), "want an array of values, got %s", kind(tok))
			}
			m.Any = []any{}
			for i := 0; ps.dec.More(); i++ {
				if i == ps.lim.MaxValues {
					return errorf(q.String(), "more than %d values", ps.lim.MaxValues)
				}
				v, err := ps.scalar(p.elem("any", i))
				if err != nil {
					return err
				}
				m.Any = append(m.Any, v)
			}
			_, err = ps.token(q) // ']'
			return err
		}
		return errorf(p.String(), "unknown field %q (want value or any)", name)
	})
}

// scalar reads a string, number (as float64) or boolean.
func (ps *parser) scalar(p *path) (any, error) {
	tok, err := ps.token(p)
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case string, bool:
		return tok, nil
	case json.Number:
		return parseNumber(tok, p)
	}
	return nil, errorf(p.String(), "want a string, number or boolean, got %s", kind(tok))
}

func parseNumber(n json.Number, p *path) (float64, error) {
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, errorf(p.String(), "number %s is out of range", n)
	}
	return v, nil
}

func (ps *parser) rangeObject(r *Range, p *path) error {
	return ps.object(p, "a range", func(name string, q *path) error {
		var dst **Bound
		switch name {
		case "gt":
			dst = &r.GT
		case "gte":
			dst = &r.GTE
		case "lt":
			dst = &r.LT
		case "lte":
			dst = &r.LTE
		default:
			return errorf(p.String(), "unknown field %q (want gt, gte, lt or lte)", name)
		}
		b, err := ps.bound(q)
		*dst = b
		return err
	})
}

// bound reads a number or an RFC 3339 time.
func (ps *parser) bound(p *path) (*Bound, error) {
	tok, err := ps.token(p)
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Number:
		v, err := parseNumber(tok, p)
		if err != nil {
			return nil, err
		}
		return NumberBound(v), nil
	case string:
		t, ok := parseRFC3339(tok)
		if !ok {
			return nil, errorf(p.String(), "%q is not a number or an RFC 3339 time", tok)
		}
		return TimeBound(t), nil
	}
	return nil, errorf(p.String(), "want a number or an RFC 3339 time, got %s", kind(tok))
}
