package ingest

// Format is a file format the loaders read.
type Format string

// The formats.
const (
	FormatText     Format = "text"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
	FormatPDF      Format = "pdf"
	FormatJSONL    Format = "jsonl"
)

// Document is what a loader makes of a file (or of one JSONL line): its
// plain text and the structure found in it. Offsets are byte offsets into
// Text; Chunk converts them to characters for the metadata.
type Document struct {
	// Source names where the document came from: a slash-separated path
	// relative to the ingest root, or a URL.
	Source string
	// ID is the document's own identifier (a JSONL line's id field); empty
	// when the file has none, and the chunks' ids then derive from Source.
	ID string
	// Title is the front matter's title, the HTML <title> or first <h1>,
	// the first Markdown heading of level 1, or the PDF's Title; empty when
	// there is none.
	Title string
	// Text is the extracted plain text: Markdown without its markup but
	// with code blocks and tables as written, HTML's main content without
	// navigation, scripts and styles, a PDF's text page by page.
	Text string
	// Blocks are the structural units of Text in order: each covers
	// Text[Start:End], they do not overlap, and whatever lies between them
	// is white space.
	Blocks []Block
	// Metadata holds the front matter's fields and a JSONL line's other
	// fields, as values the index accepts: strings (times in RFC 3339),
	// numbers, booleans, and lists of those. Nested objects are flattened
	// to dotted keys ("author.name").
	Metadata map[string]any
}

// BlockKind is what a block is.
type BlockKind uint8

// The block kinds.
const (
	// BlockParagraph is running text: split at sentences, then words.
	BlockParagraph BlockKind = iota
	// BlockHeading is a heading's own text; it starts a section.
	BlockHeading
	// BlockCode is a code block, kept whole where it fits a chunk, else
	// split at lines.
	BlockCode
	// BlockTable is a table, one row per line, kept whole where it fits,
	// else split at rows.
	BlockTable
	// BlockList is one list item.
	BlockList
	// BlockQuote is a quoted paragraph.
	BlockQuote
)

func (k BlockKind) String() string {
	switch k {
	case BlockParagraph:
		return "paragraph"
	case BlockHeading:
		return "heading"
	case BlockCode:
		return "code"
	case BlockTable:
		return "table"
	case BlockList:
		return "list"
	case BlockQuote:
		return "quote"
	}
	return "unknown"
}

// Block is one structural unit of a Document's Text.
type Block struct {
	Kind BlockKind
	// Start and End are the byte offsets of the block in Document.Text.
	Start, End int
	// Level is a heading's level, 1 to 6; 0 for other blocks.
	Level int
	// Headings is the path of the headings the block sits under, outermost
	// first; a heading block's own text is not in its path.
	Headings []string
	// Page is the 1-based page of a PDF block; 0 in other formats.
	Page int
}
