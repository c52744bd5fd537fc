package ingest

import (
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A PDF has no paragraphs, only glyphs at positions. PDFium gives them in
// reading order with the line breaks and spaces it infers; this file groups
// its lines into blocks by their geometry:
//
//   - a heading is a short line set larger than the body text (its level is
//     the rank of its size among heading sizes), or a short line all in bold;
//   - code is a run of lines in a fixed-pitch font, kept line by line with
//     its indentation;
//   - a list item starts with a bullet or a number;
//   - a paragraph ends where the space between lines grows, the next line
//     is indented (TeX's paragraphs), the column changes, or a short line
//     ends a sentence.
//
// Lines of a paragraph are joined with a space; a word PDFium marks as
// hyphenated at the line end is joined back. Running headers and footers
// (a line repeated at the top or bottom of most pages) and page numbers are
// dropped. Ligature characters are decomposed (U+FB01 → "fi") and TeX's
// separate accents are put back on their letters ("Caf´e" → "Café").

// pdfChar is one character of a page as PDFium gives it: its text, its box
// in points (y grows upwards) and its font.
type pdfChar struct {
	text                     string
	left, right, top, bottom float64
	size                     float64
	bold, mono               bool
}

// pdfLine is one line of a page.
type pdfLine struct {
	text                     string
	left, right, top, bottom float64
	size                     float64
	bold, mono               bool
	// advance is the mean width of a character, for code indentation.
	advance float64
}

// pdfWordGap is the gap between two glyphs, in ems, above which they are
// taken for two words. Letters of a word sit closer; PDFium's own
// spacing misses word gaps made by a pen move in some PDFs (groff's).
const pdfWordGap = 0.25

// pdfSoftHyphen is what PDFium puts for a hyphen that breaks a word at the
// end of a line.
const pdfSoftHyphen = "\x02"

// pdfLines groups a page's characters into lines at PDFium's line breaks.
func pdfLines(chars []pdfChar) []pdfLine {
	var lines []pdfLine
	var cur []pdfChar
	end := func() {
		if l, ok := newPDFLine(cur); ok {
			lines = append(lines, l)
		}
		cur = cur[:0]
	}
	for _, c := range chars {
		switch c.text {
		case "\n":
			end()
		case "\r", "":
		case pdfSoftHyphen: // the word goes on at the next line, with no break
			cur = append(cur, c)
			end()
		default:
			cur = append(cur, c)
		}
	}
	end()
	return lines
}

func newPDFLine(chars []pdfChar) (pdfLine, bool) {
	var text strings.Builder
	l := pdfLine{left: math.Inf(1), right: math.Inf(-1), top: math.Inf(-1), bottom: math.Inf(1)}
	sizes := map[float64]int{}
	var n, bold, mono int
	var last *pdfChar // the last visible character
	for i, c := range chars {
		if strings.TrimSpace(c.text) == "" || c.text == pdfSoftHyphen || c.right <= c.left {
			text.WriteString(c.text)
			last = nil
			continue
		}
		// A space the PDF makes by moving the pen, and PDFium missed.
		if last != nil && !(c.mono && last.mono) && c.left-last.right > pdfWordGap*max(c.size, last.size) {
			text.WriteByte(' ')
		}
		last = &chars[i]
		text.WriteString(c.text)
		n++
		l.left, l.right = min(l.left, c.left), max(l.right, c.right)
		l.top, l.bottom = max(l.top, c.top), min(l.bottom, c.bottom)
		sizes[math.Round(c.size*2)/2]++
		if c.bold {
			bold++
		}
		if c.mono {
			mono++
		}
	}
	l.text = strings.TrimRight(text.String(), " \t")
	if n == 0 || strings.TrimSpace(l.text) == "" {
		return pdfLine{}, false
	}
	l.size = modeOf(sizes)
	l.bold = bold == n
	l.mono = mono*10 >= n*9
	l.advance = (l.right - l.left) / float64(max(utf8.RuneCountInString(strings.TrimSpace(l.text)), 1))
	return l, true
}

// modeOf returns the most frequent key, the largest on a tie.
func modeOf(m map[float64]int) float64 {
	var best float64
	n := -1
	for k, c := range m {
		if c > n || c == n && k > best {
			best, n = k, c
		}
	}
	return best
}

// layoutPDF adds the blocks of all pages to b.
func layoutPDF(b *docBuilder, pages [][]pdfLine) {
	dropPageChrome(pages)
	body, pitch, levels := pdfStyle(pages)
	compounds := hyphenatedWords(pages)
	for i, lines := range pages {
		b.page = i + 1
		var blk []pdfLine
		var kind BlockKind
		level := 0
		flush := func() {
			if len(blk) > 0 {
				b.add(kind, joinPDFLines(blk, kind, compounds), level)
			}
			blk = blk[:0]
		}
		for j, l := range lines {
			k, lv := BlockParagraph, 0
			switch {
			case l.mono:
				k = BlockCode
			case isPDFHeading(l, body):
				k, lv = BlockHeading, levels[headingSize(l, body)]
			case startsListItem(l.text):
				k = BlockList
			}
			if j > 0 && len(blk) > 0 && continuesBlock(blk, lines[j-1], l, kind, k, level, lv, pitch) {
				blk = append(blk, l)
				continue
			}
			flush()
			blk, kind, level = append(blk, l), k, lv
		}
		flush()
	}
	b.page = 0
}

// continuesBlock reports whether line cur, of kind k, belongs to the block
// blk (of kind kind) whose last line is prev.
func continuesBlock(blk []pdfLine, prev, cur pdfLine, kind, k BlockKind, level, lv int, pitch map[float64]float64) bool {
	if k == BlockList && kind != BlockCode {
		return false // a new item
	}
	if k != kind && !(kind == BlockList && k == BlockParagraph) {
		return false
	}
	if kind == BlockHeading && lv != level {
		return false
	}
	size := max(cur.size, 1)
	step := prev.top - cur.top // how far down the line starts
	if step <= 0 || step > 3*size {
		// A new column or a jump: only a sentence cut in the middle goes on.
		return kind == BlockParagraph && !endsSentence(prev.text) && startsLower(cur.text)
	}
	normal := pitch[math.Round(size*2)/2]
	if normal == 0 {
		normal = 1.2 * size
	}
	// Inline code set a point smaller does not end a paragraph; a heading
	// is larger still, and of another kind.
	if step > 1.4*normal || math.Abs(prev.size-cur.size) > 0.15*size {
		return false
	}
	switch kind {
	case BlockCode:
		return true
	case BlockList:
		// Continuation lines hang under the item's text, right of its bullet.
		return cur.left > blk[0].left+size/2
	case BlockHeading:
		return true
	}
	if cur.left > prev.left+0.8*size && len(blk) > 0 && cur.left > blk[0].left-size/2 {
		return false // an indented first line: a new paragraph
	}
	maxRight := prev.right
	for _, l := range blk {
		maxRight = max(maxRight, l.right)
	}
	if len(blk) > 1 && prev.right < maxRight-3*size && endsSentence(prev.text) {
		return false // a short line that ends a sentence ends the paragraph
	}
	return true
}

// pdfStyle measures the document: the body text's size (the size of most
// characters), the usual distance between lines of each size, and the
// level of each heading size (largest first).
func pdfStyle(pages [][]pdfLine) (body float64, pitch map[float64]float64, levels map[float64]int) {
	chars := map[float64]int{}
	steps := map[float64][]float64{}
	for _, lines := range pages {
		for j, l := range lines {
			chars[l.size] += len(l.text)
			if j > 0 && lines[j-1].size == l.size {
				if step := lines[j-1].top - l.top; step > 0 && step <= 3*l.size {
					steps[l.size] = append(steps[l.size], step)
				}
			}
		}
	}
	body = modeOf(chars)
	pitch = make(map[float64]float64, len(steps))
	for size, s := range steps {
		slices.Sort(s)
		pitch[size] = s[len(s)/2]
	}
	var sizes []float64
	for _, lines := range pages {
		for _, l := range lines {
			if isPDFHeading(l, body) {
				sizes = append(sizes, headingSize(l, body))
			}
		}
	}
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	levels = make(map[float64]int, len(sizes))
	for i, s := range slices.Backward(sizes) {
		levels[s] = min(len(sizes)-i, 6)
	}
	return body, pitch, levels
}

// isPDFHeading reports whether l looks like a heading: short, and larger
// than the body text or all in bold.
func isPDFHeading(l pdfLine, body float64) bool {
	t := strings.TrimSpace(l.text)
	if l.mono || utf8.RuneCountInString(t) > 120 || !hasLetter(t) {
		return false
	}
	if l.size >= body*1.15 {
		return true
	}
	return l.bold && l.size >= body-0.5 && utf8.RuneCountInString(t) <= 80 && !endsSentence(t) && !strings.HasSuffix(t, ",")
}

// headingSize is the size that ranks a heading: bold headings of the body
// size rank below every larger one.
func headingSize(l pdfLine, body float64) float64 {
	if l.size >= body*1.15 {
		return l.size
	}
	return body
}

// startsListItem reports whether a line starts with a bullet or an item
// number ("3.", "(b)", "iv)").
func startsListItem(s string) bool {
	s = strings.TrimLeft(s, " ")
	r, n := utf8.DecodeRuneInString(s)
	if strings.ContainsRune("•◦▪▫‣⁃●○■□∙·–—*-", r) {
		return n < len(s) && (s[n] == ' ' || s[n] == '\t')
	}
	i := 0
	if strings.HasPrefix(s, "(") {
		i = 1
	}
	j := i
	for j < len(s) && j-i < 3 && (s[j] >= '0' && s[j] <= '9' || j == i && s[j] >= 'a' && s[j] <= 'z') {
		j++
	}
	return j > i && j+1 < len(s) && (s[j] == '.' || s[j] == ')') && s[j+1] == ' ' && len(s) > j+2
}

func endsSentence(s string) bool {
	s = strings.TrimRight(s, " \"'”’)]")
	r, _ := utf8.DecodeLastRuneInString(s)
	return strings.ContainsRune(".!?:;。！？", r)
}

func startsLower(s string) bool {
	r, _ := utf8.DecodeRuneInString(strings.TrimSpace(s))
	return unicode.IsLower(r)
}

func hasLetter(s string) bool {
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

// joinPDFLines returns a block's text. Code keeps its lines and their
// indentation; other lines are joined with a space, or with nothing after
// a hyphen that PDFium marks as breaking a word (and after a hyphen that
// ends a line before a lowercase word, which keeps compounds whole:
// "out-of-" + "bounds").
func joinPDFLines(lines []pdfLine, kind BlockKind, compounds map[string]bool) string {
	var out strings.Builder
	if kind == BlockCode {
		left, adv := lines[0].left, 0.0
		for _, l := range lines {
			left = min(left, l.left)
			if utf8.RuneCountInString(strings.TrimSpace(l.text)) >= 4 {
				adv = max(adv, l.advance) // short lines measure glyphs, not advances
			}
		}
		for i, l := range lines {
			if i > 0 {
				out.WriteByte('\n')
			}
			if adv > 0 {
				out.WriteString(strings.Repeat(" ", min(int(math.Round((l.left-left)/adv)), 40)))
			}
			out.WriteString(fixPDFText(strings.TrimSpace(l.text)))
		}
		return out.String()
	}
	for i, l := range lines {
		t := strings.TrimSpace(l.text)
		if i > 0 {
			prev := out.String()
			switch {
			case strings.HasSuffix(prev, pdfSoftHyphen):
				// PDFium cannot tell "hy-phen-ation" from a compound that
				// broke at its hyphen: keep the hyphen if the document
				// writes the word with one elsewhere.
				head := prev[strings.LastIndexAny(prev, " \t")+1 : len(prev)-1]
				tail, _, _ := strings.Cut(t, " ")
				out.Reset()
				out.WriteString(strings.TrimSuffix(prev, pdfSoftHyphen))
				if compounds[strings.ToLower(trimWord(head)+"-"+trimWord(tail))] {
					out.WriteByte('-')
				}
			case strings.HasSuffix(prev, "-") && startsLower(t):
			default:
				out.WriteByte(' ')
			}
		}
		out.WriteString(t)
	}
	return fixPDFText(strings.ReplaceAll(out.String(), pdfSoftHyphen, "-"))
}

// hyphenatedWords returns the words written with a hyphen inside a line
// ("multi-module"), lowercased.
func hyphenatedWords(pages [][]pdfLine) map[string]bool {
	words := map[string]bool{}
	for _, lines := range pages {
		for _, l := range lines {
			if !strings.Contains(l.text, "-") {
				continue
			}
			for _, w := range strings.Fields(l.text) {
				w = trimWord(w)
				if i := strings.IndexByte(w, '-'); i > 0 && i < len(w)-1 {
					words[strings.ToLower(w)] = true
				}
			}
		}
	}
	return words
}

// trimWord trims the punctuation around a word.
func trimWord(w string) string {
	return strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// fixPDFText decomposes ligatures, puts separate accents back on their
// letters, and shortens dot leaders (". . . . ." in a table of contents).
func fixPDFText(s string) string {
	var out strings.Builder
	out.Grow(len(s))
	dots := 0
	for i, r := range s {
		if r == '.' || r == ' ' && dots > 0 && i+1 < len(s) && s[i+1] == '.' {
			if r == '.' {
				dots++
			}
			continue
		}
		if dots > 0 {
			if dots >= 4 {
				out.WriteString(" … ")
			} else {
				out.WriteString(strings.Repeat(".", dots))
			}
			dots = 0
		}
		if lig, ok := ligatures[r]; ok {
			out.WriteString(lig)
			continue
		}
		out.WriteRune(r)
	}
	if dots > 0 {
		out.WriteString(strings.Repeat(".", min(dots, 3)))
	}
	return composeAccents(strings.Join(strings.Fields(out.String()), " "))
}

var ligatures = map[rune]string{
	'\uFB00': "ff", '\uFB01': "fi", '\uFB02': "fl", '\uFB03': "ffi", '\uFB04': "ffl",
	'\uFB05': "st", '\uFB06': "st",
}

// spacingAccents maps the spacing forms of accents, which TeX's OT1 fonts
// draw as glyphs of their own before the letter, to combining marks.
var spacingAccents = map[rune]rune{
	'\u00B4': '\u0301', '\u00A8': '\u0308', '\u02C6': '\u0302', '\u02DC': '\u0303',
	'\u00B8': '\u0327', '\u02C7': '\u030C', '\u02D8': '\u0306', '\u02DA': '\u030A',
	'\u00AF': '\u0304', '\u02DD': '\u030B', '\u02D9': '\u0307', '\u02DB': '\u0328',
}

// composeAccents turns a spacing accent followed by a letter into the
// accented letter ("´e" → "é"; "¨ı" → "ï"), then normalises to NFC.
func composeAccents(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { _, ok := spacingAccents[r]; return ok }) {
		return s
	}
	rs := []rune(s)
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); i++ {
		mark, ok := spacingAccents[rs[i]]
		if ok && i+1 < len(rs) && unicode.IsLetter(rs[i+1]) {
			letter := rs[i+1]
			switch letter {
			case 'ı':
				letter = 'i'
			case 'ȷ':
				letter = 'j'
			}
			out = append(out, letter, mark)
			i++
			continue
		}
		out = append(out, rs[i])
	}
	return norm.NFC.String(string(out))
}

// dropPageChrome removes running headers and footers, lines repeated (up
// to their digits) among the first two or last two lines of at least half
// of the pages after the first, and page numbers alone on a first or last
// line.
func dropPageChrome(pages [][]pdfLine) {
	key := func(s string) string {
		return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
			if unicode.IsDigit(r) {
				return '#'
			}
			return r
		}, s)), " ")
	}
	edge := func(lines []pdfLine, j int) bool { return j < 2 || j >= len(lines)-2 }
	seen := map[string]int{}
	for _, lines := range pages[min(1, len(pages)):] {
		keys := map[string]bool{}
		for j, l := range lines {
			if edge(lines, j) {
				keys[key(l.text)] = true
			}
		}
		for k := range keys {
			seen[k]++
		}
	}
	repeated := len(pages) >= 3
	for i, lines := range pages {
		kept := lines[:0]
		for j, l := range lines {
			if edge(lines, j) && (isPageNumber(l.text) ||
				repeated && i > 0 && seen[key(l.text)]*2 >= len(pages)-1 && seen[key(l.text)] >= 2) {
				continue
			}
			kept = append(kept, l)
		}
		pages[i] = kept
	}
}

// isPageNumber reports whether s is only a page number: "12", "- 12 -",
// "Page 3", "3 of 10", "iv".
func isPageNumber(s string) bool {
	t := strings.ToLower(strings.Trim(s, " -–—|"))
	t = strings.TrimPrefix(t, "page ")
	if t == "" || len(t) > 12 {
		return false
	}
	if before, after, ok := strings.Cut(t, " of "); ok {
		return allDigits(before) && allDigits(after)
	}
	return allDigits(t) || len(t) <= 5 && strings.Trim(t, "ivxl") == ""
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
