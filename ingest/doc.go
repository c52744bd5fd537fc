// Package ingest turns files into documents ready to chunk and embed: the
// loaders, which extract a file's readable text and its structure, and the
// chunker (Split), which cuts documents into pieces that fit an embedder.
//
// # Loaders
//
// Detect names the Format of a file from its name and first bytes, or
// refuses it (binary data, images, archives). Load reads the whole file
// and returns Documents: their plain Text, Blocks that mark its paragraphs,
// headings, code, tables, list items and quotes (byte offsets into Text,
// with the path of headings each block sits under), a Title and Metadata.
// Every document has a Source, valid UTF-8 text that is not empty, and
// blocks in order with nothing but blank lines between them; a file with
// nothing to say fails with ErrEmpty instead.
//
// # Formats
//
//   - Text (.txt, .rst, .csv, .log, .json, .yaml and other prose and data
//     files, and source code): paragraphs at blank lines; in source code
//     (by extension) the blocks are code. Line ends become "\n".
//   - Markdown (CommonMark with GFM tables, strikethrough and task lists,
//     through goldmark): YAML front matter ("---" … "---") or go.dev's JSON
//     comment ("<!--{ … }-->") becomes Metadata, its title the Title (else
//     the first level-1 heading). Text is what a reader sees: emphasis,
//     link and image markup go (link text and alt text stay, URLs go),
//     code blocks stay verbatim without their fences, tables become one
//     row per line with cells joined by " | ", raw HTML is reduced to its
//     text, soft line breaks join lines with a space.
//   - HTML (golang.org/x/net/html; legacy charsets decoded as the page
//     declares, else as Windows-1252): the <main> element, else the only
//     <article>, else, for a whole page that reads as an article, what
//     Readability (Mozilla's reader view, go-readability) keeps of it, else
//     <body>. Scripts, styles, forms, navigation, asides, page headers and
//     footers and hidden elements go; h1–h6 give the structure, <pre> is
//     code, data tables are rows, <p>, <li>, <dt>/<dd>, <blockquote> and
//     text directly in <div>s are blocks, runs of white space collapse
//     outside <pre>. The title is the <title>, else the first <h1>.
//     Fragments (a page body without <html> or <body>) load as well.
//   - PDF (PDFium compiled to WebAssembly, run in-process by wazero: no cgo,
//     nothing downloaded; see pdf.go): the text layer page by page
//     (Block.Page), paragraphs, headings (by font size), code (fixed-pitch
//     fonts) and list items recovered from the layout, hyphenated words
//     joined, ligatures decomposed, running headers, footers and page
//     numbers dropped. Title and Metadata (author, subject, keywords,
//     created, modified, pages) come from the document information. An
//     encrypted PDF fails with ErrUnsupported, one without a text layer (a
//     scan) with ErrEmpty, a broken one with ErrMalformed.
//   - JSON Lines: one document per non-blank line, a JSON object whose
//     LoadConfig.TextField holds the text; IDField gives the ID (else
//     "<source>:<line>"), TitleField the title, and every field but the
//     text and the ID goes to Metadata. A bad line fails the file with its
//     line number.
//
// Metadata holds what the index accepts: strings (times as RFC 3339),
// float64 numbers, booleans and lists of those; nested objects are
// flattened to dotted keys ("author.name"), and a list of objects is kept
// as one JSON string.
//
// Invalid UTF-8 in a text, Markdown or HTML file becomes U+FFFD (Detect
// already refuses a Markdown or text file whose first bytes are not UTF-8,
// and UTF-16 with a byte order mark is transcoded); a NUL byte makes the
// file binary (ErrUnsupported).
//
// Pages written for Go's text/template (go.dev's) keep their text: an
// action that prints a string literal ({{raw "<"}}, {{raw `…`}}) is
// replaced by the string, and a line of running text made only of actions
// ({{code "…"}}, {{image "…"}}, {{end}}) is dropped; other actions, and any
// inside code, stay as written.
//
// # Concurrency
//
// Detect and Load are pure functions of their arguments, safe for
// concurrent use. The only process-wide state is the compiled PDFium
// module, built on the first PDF and shared read-only; each Load of a PDF
// gets its own instance of it, and at most GOMAXPROCS run at once.
package ingest
