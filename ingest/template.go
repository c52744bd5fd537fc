package ingest

import (
	"strconv"
	"strings"
)

// Markdown and HTML pages meant for a site generator that runs them through
// Go's text/template first (go.dev's pages do) hold template actions. Two
// kinds are handled, in both formats:
//
//   - an action that prints a string literal, {{raw "…"}}, {{raw `…`}},
//     {{"…"}} or {{`…`}}, is replaced by the string before parsing, as the
//     template engine would: go.dev writes "{{raw "<"}}" in code and wraps
//     whole code samples in {{raw `…`}};
//   - a line of running text (not of code) made only of actions, such as
//     {{code "/doc/progs/x.go" `/START/` `/END/`}}, {{image "x.png"}} or
//     {{end}}, is dropped: what it would produce is not in the file.
//
// Any other action is text and stays, in code verbatim.

// expandTemplateLiterals replaces the actions that print a string literal
// by the string.
func expandTemplateLiterals(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	var out strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		lit, n := templateLiteral(s[i:])
		if n == 0 {
			out.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		out.WriteString(s[:i])
		out.WriteString(lit)
		s = s[i+n:]
	}
	out.WriteString(s)
	return out.String()
}

// templateLiteral parses s = `{{raw "x"}}…` (or the other forms) and
// returns the string and the length of the action, or 0 if s does not start
// with one.
func templateLiteral(s string) (string, int) {
	j := 2
	if strings.HasPrefix(s[j:], "raw") && len(s) > j+3 && isTemplateSpace(s[j+3]) {
		j += 3
	}
	for j < len(s) && isTemplateSpace(s[j]) {
		j++
	}
	end := quotedEnd(s, j)
	if end < 0 {
		return "", 0
	}
	k := end
	for k < len(s) && isTemplateSpace(s[k]) {
		k++
	}
	if !strings.HasPrefix(s[k:], "}}") {
		return "", 0
	}
	lit, err := strconv.Unquote(s[j:end])
	if err != nil {
		return "", 0
	}
	return lit, k + 2
}

func isTemplateSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// quotedEnd returns the end of the Go string literal ("…" or `…`) at
// s[i:], or -1 if there is none.
func quotedEnd(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '`':
		if k := strings.IndexByte(s[i+1:], '`'); k >= 0 {
			return i + 1 + k + 1
		}
	case '"':
		for k := i + 1; k < len(s); k++ {
			switch s[k] {
			case '\\':
				k++
			case '\n':
				return -1
			case '"':
				return k + 1
			}
		}
	}
	return -1
}

// dropDirectiveLines removes the lines of s made only of template actions.
func dropDirectiveLines(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	lines := strings.Split(s, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !isDirectiveLine(l) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n")
}

// isDirectiveLine reports whether line holds one or more template actions
// and nothing else but blanks.
func isDirectiveLine(line string) bool {
	t := strings.TrimSpace(line)
	if t == "" {
		return false
	}
	for t != "" {
		if !strings.HasPrefix(t, "{{") {
			return false
		}
		end := actionEnd(t)
		if end < 0 {
			return false
		}
		t = strings.TrimLeft(t[end:], " \t")
	}
	return true
}

// actionEnd returns the end of the action that starts s ("{{…}}"), skipping
// string literals inside it, or -1.
func actionEnd(s string) int {
	for k := 2; k < len(s); k++ {
		switch s[k] {
		case '"', '`':
			e := quotedEnd(s, k)
			if e < 0 {
				return -1
			}
			k = e - 1
		case '}':
			if k+1 < len(s) && s[k+1] == '}' {
				return k + 2
			}
		}
	}
	return -1
}
