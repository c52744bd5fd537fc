package ingest

import (
	"bytes"
	"path"
	"strings"
	"unicode/utf8"
)

// sniffLen is how much of head Detect looks at.
const sniffLen = 8 << 10

// Detect tells which loader reads a file, from its name and the first bytes
// of its contents (512 are enough; Detect looks at no more than 8 KiB). It
// returns false for a file to skip: binary data, or a name that says image,
// archive or other non-document.
//
// A PDF is known by its magic ("%PDF-" in the first KiB) whatever its name.
// Otherwise the extension decides:
//
//	.md .markdown .mdown .mkd .mkdn .mdx  FormatMarkdown
//	.html .htm .xhtml .shtml               FormatHTML
//	.jsonl .ndjson .jsonlines              FormatJSONL
//	.txt .text .rst .adoc .org .csv .log   FormatText, and so are source
//	.json .yaml .toml .xml .tex …          code and configuration files
//	.go .py .js .ts .java .c .rs …         (see textExtensions): they are
//	                                        read as plain text
//
// A file with another extension or none is sniffed: "<!doctype html" or
// "<html" at the start (after white space and comments) is HTML, text is
// FormatText. Text means no NUL byte and valid UTF-8 (a rune cut at the end
// of head is fine) or a UTF-16 byte order mark; the same test refuses a
// binary file whatever its name says (an image renamed .md), except that
// HTML need not be UTF-8 since it can declare its charset. Minified
// bundles (.min.js, .min.css), source maps and SVG images are refused:
// they are text, but not documents.
func Detect(name string, head []byte) (Format, bool) {
	if len(head) > sniffLen {
		head = head[:sniffLen]
	}
	if isPDF(head) {
		return FormatPDF, true
	}
	base := strings.ToLower(path.Base(strings.ReplaceAll(name, `\`, "/")))
	if strings.HasSuffix(base, ".min.js") || strings.HasSuffix(base, ".min.css") {
		return "", false
	}
	ext := path.Ext(base)
	if skipExtensions[ext] {
		return "", false
	}
	f, known := extensionFormats[ext]
	switch {
	case known && f == FormatPDF:
		return "", false // no magic: not a PDF whatever it is called
	case known && f == FormatHTML:
		if bytes.IndexByte(head, 0) >= 0 && bomEncoding(head) == nil {
			return "", false
		}
		return f, true
	case known:
		if !isText(head) {
			return "", false
		}
		return f, true
	case textExtensions[ext] || codeExtensions[ext]:
		if !isText(head) {
			return "", false
		}
		return FormatText, true
	}
	if len(head) == 0 || !isText(head) {
		return "", false
	}
	if isHTML(head) {
		return FormatHTML, true
	}
	return FormatText, true
}

// isPDF reports whether head carries the PDF header, which the format lets
// start anywhere in the first 1024 bytes.
func isPDF(head []byte) bool {
	return bytes.Contains(head[:min(len(head), 1024)], []byte("%PDF-"))
}

// isHTML reports whether head starts like an HTML document.
func isHTML(head []byte) bool {
	h := bytes.TrimPrefix(head, []byte("\uFEFF"))
	for {
		h = bytes.TrimLeft(h, " \t\r\n\f")
		if !bytes.HasPrefix(h, []byte("<!--")) {
			break
		}
		end := bytes.Index(h, []byte("-->"))
		if end < 0 {
			return false
		}
		h = h[end+3:]
	}
	h = bytes.ToLower(h[:min(len(h), 16)])
	return bytes.HasPrefix(h, []byte("<!doctype html")) || bytes.HasPrefix(h, []byte("<html"))
}

// isText reports whether head is text: a UTF-16 byte order mark, or valid
// UTF-8 without NUL bytes, up to a rune cut off at the end.
func isText(head []byte) bool {
	if bomEncoding(head) != nil {
		return true
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return false
	}
	for i := 0; i < len(head); {
		r, n := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && n <= 1 {
			return !utf8.FullRune(head[i:]) // a rune cut off by the head's end
		}
		i += n
	}
	return true
}

var extensionFormats = map[string]Format{
	".md": FormatMarkdown, ".markdown": FormatMarkdown, ".mdown": FormatMarkdown,
	".mkd": FormatMarkdown, ".mkdn": FormatMarkdown, ".mdx": FormatMarkdown,
	".html": FormatHTML, ".htm": FormatHTML, ".xhtml": FormatHTML, ".shtml": FormatHTML,
	".jsonl": FormatJSONL, ".ndjson": FormatJSONL, ".jsonlines": FormatJSONL,
	".pdf": FormatPDF,
}

// textExtensions are prose and data files read as plain text.
var textExtensions = setOf(".txt", ".text", ".rst", ".adoc", ".asciidoc", ".org",
	".tex", ".csv", ".tsv", ".log", ".json", ".yaml", ".yml", ".toml", ".ini",
	".cfg", ".conf", ".properties", ".xml", ".srt", ".vtt", ".pod", ".textile")

// codeExtensions are source code: read as plain text whose blocks are code.
var codeExtensions = setOf(".go", ".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx",
	".ts", ".tsx", ".java", ".kt", ".kts", ".scala", ".groovy", ".c", ".h", ".cc",
	".cpp", ".cxx", ".hpp", ".hh", ".cs", ".fs", ".rs", ".rb", ".php", ".swift",
	".m", ".mm", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".sql", ".proto",
	".graphql", ".css", ".scss", ".less", ".lua", ".pl", ".pm", ".r", ".jl",
	".dart", ".ex", ".exs", ".erl", ".hrl", ".hs", ".ml", ".mli", ".clj", ".el",
	".vim", ".zig", ".nim", ".v", ".vue", ".svelte", ".tf", ".hcl", ".nix",
	".cmake", ".mk", ".s", ".asm", ".bat", ".cmd", ".dockerfile", ".gradle")

// skipExtensions are text formats that are not documents.
var skipExtensions = setOf(".svg", ".map")

func setOf(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, k := range s {
		m[k] = true
	}
	return m
}
