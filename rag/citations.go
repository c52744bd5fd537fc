package rag

import (
	"regexp"
	"strconv"
	"strings"
)

// Citation is a passage the answer cites.
type Citation struct {
	// N is the passage's number, as the answer writes it ([N]), and its
	// 1-based position in Response.Passages.
	N int `json:"n"`
	// ID is the document ID of the passage's first chunk.
	ID      string  `json:"id"`
	Source  string  `json:"source,omitempty"`
	Title   string  `json:"title,omitempty"`
	Heading string  `json:"heading,omitempty"`
	Score   float64 `json:"score"`
}

// citeRE matches a citation marker: [1], [1, 3], [1;3], [2-4] or [2–4],
// with or without the word "source" ([Source 2], as some models write),
// each of them in its own brackets when written [1][2]. Up to four digits a
// number: "[20240]" is not a citation.
var citeRE = regexp.MustCompile(`(?i)\[\s*(?:sources?\s*)?(\d{1,4}(?:\s*[-–]\s*\d{1,4})?(?:\s*[,;]\s*(?:sources?\s*)?\d{1,4}(?:\s*[-–]\s*\d{1,4})?)*)\s*\]`)

// numRE matches one number or range inside a marker.
var numRE = regexp.MustCompile(`(\d+)(?:\s*[-–]\s*(\d+))?`)

// parseCitations returns the passage numbers that answer cites, in order of
// first appearance and each once, keeping those in [1, n]; bad lists the
// markers' numbers or ranges outside it (a hallucinated [7] of five
// passages, a range backwards or wider than n). Markers inside code — a
// fenced block or an inline `span` — are not citations: a[1] in code is an
// index.
func parseCitations(answer string, n int) (cited []int, bad []string) {
	seen := make(map[int]bool)
	for _, m := range citeRE.FindAllStringSubmatch(stripCode(answer), -1) {
		for _, r := range numRE.FindAllStringSubmatch(m[1], -1) {
			lo, _ := strconv.Atoi(r[1])
			hi := lo
			if r[2] != "" {
				hi, _ = strconv.Atoi(r[2])
				if hi < lo || hi-lo >= n {
					bad = append(bad, r[0])
					continue
				}
			}
			for k := lo; k <= hi; k++ {
				if k < 1 || k > n {
					bad = append(bad, strconv.Itoa(k))
					continue
				}
				if !seen[k] {
					seen[k] = true
					cited = append(cited, k)
				}
			}
		}
	}
	return cited, bad
}

// stripCode blanks out fenced code blocks (``` or ~~~) and inline code
// spans of s, keeping its other text and its line breaks.
func stripCode(s string) string {
	if !strings.ContainsAny(s, "`~") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	fence := ""
	for line := range strings.SplitAfterSeq(s, "\n") {
		t := strings.TrimLeft(line, " \t")
		if fence != "" {
			if strings.HasPrefix(t, fence) {
				fence = ""
			}
			b.WriteString("\n")
			continue
		}
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = t[:3]
			b.WriteString("\n")
			continue
		}
		b.WriteString(stripInline(line))
	}
	return b.String()
}

// stripInline blanks out the code spans of a line: a run of backticks, the
// text up to the next run of as many, and that run.
func stripInline(line string) string {
	if !strings.Contains(line, "`") {
		return line
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(line, '`')
		if i < 0 {
			break
		}
		k := i
		for k < len(line) && line[k] == '`' {
			k++
		}
		run := line[i:k]
		end := -1
		for j := k; j < len(line); {
			c := strings.Index(line[j:], run)
			if c < 0 {
				break
			}
			c += j
			e := c + len(run)
			if e == len(line) || line[e] != '`' {
				end = e
				break
			}
			for e < len(line) && line[e] == '`' {
				e++
			}
			j = e
		}
		if end < 0 {
			b.WriteString(line[:k])
			line = line[k:]
			continue
		}
		b.WriteString(line[:i])
		b.WriteByte(' ')
		line = line[end:]
	}
	b.WriteString(line)
	return b.String()
}
