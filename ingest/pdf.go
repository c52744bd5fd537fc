package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klippa-app/go-pdfium"
	pdfiumerrors "github.com/klippa-app/go-pdfium/errors"
	"github.com/klippa-app/go-pdfium/requests"
	"github.com/klippa-app/go-pdfium/webassembly"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// PDFs are read by PDFium (the PDF engine of Chromium) compiled to
// WebAssembly and run by wazero, in-process and without cgo: the module is
// embedded in the binary (about 6 MB) and nothing is downloaded. PDFium
// places the characters, inserts the spaces that a PDF only implies by
// positioning, decodes ligatures and marks the hyphens that break words
// at line ends; pdflayout.go turns its characters into blocks.
//
// The module is compiled once per process, on the first PDF: about 0.5 s
// on a fast machine, several seconds on a small one (and far longer in a
// -race build, which instruments the compiler). Every Load then gets a
// fresh instance of it (under a millisecond), so that no state and no
// memory outlives a file; instances run in parallel up to GOMAXPROCS.

// pdfEngine is the process's PDFium, started on first use. It holds the
// compiled module and no goroutine.
var pdfEngine struct {
	once sync.Once
	pool pdfium.Pool
	err  error
}

// pdfInterpreter makes the engine interpret the module instead of compiling
// it. Tests built with -race set it: there, compiling takes about a minute
// and interpreting a small page a second.
var pdfInterpreter bool

func pdfPool() (pdfium.Pool, error) {
	pdfEngine.once.Do(func() {
		rc := wazero.NewRuntimeConfigCompiler()
		if pdfInterpreter {
			rc = wazero.NewRuntimeConfigInterpreter()
		}
		// The bundled module needs exception handling; closing on a done
		// context is what lets PDFTimeout stop a runaway file.
		rc = rc.WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling).
			WithCloseOnContextDone(true)
		n := runtime.GOMAXPROCS(0)
		pdfEngine.pool, pdfEngine.err = webassembly.Init(webassembly.Config{
			Context:       experimental.WithCompilationWorkers(context.Background(), n),
			MinIdle:       0,
			MaxIdle:       1,
			MaxTotal:      n,
			RuntimeConfig: rc,
			FSConfig:      wazero.NewFSConfig(), // no host directory: PDFium reads only the bytes given
			Stdout:        io.Discard,
			Stderr:        io.Discard,
		})
	})
	return pdfEngine.pool, pdfEngine.err
}

// loadPDF reads a PDF's text layer page by page. Encrypted files fail with
// ErrUnsupported, broken ones with ErrMalformed, files without text (scans)
// with ErrEmpty. A panic in the engine is recovered into ErrMalformed.
func loadPDF(data []byte, cfg LoadConfig) (docs []Document, err error) {
	if !isPDF(data) {
		return nil, fmt.Errorf("%w: not a PDF: no %%PDF- header", ErrMalformed)
	}
	pool, err := pdfPool()
	if err != nil {
		return nil, fmt.Errorf("ingest: starting PDFium: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.PDFTimeout)
	defer cancel()
	inst, err := pool.GetInstanceWithContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: pdf: no PDFium instance free within %v", ErrMalformed, cfg.PDFTimeout)
		}
		return nil, fmt.Errorf("ingest: starting PDFium: %w", err)
	}
	// On timeout, Kill interrupts the module mid-call; the call then fails.
	stopKill := context.AfterFunc(ctx, func() { _ = inst.Kill() })
	defer func() {
		if stopKill() {
			_ = inst.Close()
		} else {
			docs, err = nil, fmt.Errorf("%w: pdf: gave up after %v", ErrMalformed, cfg.PDFTimeout)
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			docs, err = nil, fmt.Errorf("%w: pdf: the parser failed: %v", ErrMalformed, r)
		}
	}()
	return extractPDF(inst, data)
}

// extractPDF reads the document's info and pages with inst.
func extractPDF(inst pdfium.Pdfium, data []byte) ([]Document, error) {
	opened, err := inst.OpenDocument(&requests.OpenDocument{File: &data})
	switch {
	case errors.Is(err, pdfiumerrors.ErrPassword):
		return nil, fmt.Errorf("%w: encrypted PDF: it needs a password", ErrUnsupported)
	case errors.Is(err, pdfiumerrors.ErrSecurity):
		return nil, fmt.Errorf("%w: encrypted PDF: unsupported security handler", ErrUnsupported)
	case err != nil:
		return nil, fmt.Errorf("%w: pdf: %s", ErrMalformed, pdfErrorText(err))
	}
	doc := opened.Document
	defer inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: doc})

	count, err := inst.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: doc})
	if err != nil {
		return nil, fmt.Errorf("%w: pdf: %s", ErrMalformed, pdfErrorText(err))
	}
	pages := make([][]pdfLine, count.PageCount)
	for i := range pages {
		st, err := inst.GetPageTextStructured(&requests.GetPageTextStructured{
			Page:                   requests.Page{ByIndex: &requests.PageByIndex{Document: doc, Index: i}},
			Mode:                   requests.GetPageTextStructuredModeChars,
			CollectFontInformation: true,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: pdf: page %d: %s", ErrMalformed, i+1, pdfErrorText(err))
		}
		chars := make([]pdfChar, 0, len(st.Chars))
		for _, c := range st.Chars {
			pc := pdfChar{text: c.Text, left: c.PointPosition.Left, right: c.PointPosition.Right,
				top: c.PointPosition.Top, bottom: c.PointPosition.Bottom}
			if fi := c.FontInformation; fi != nil {
				pc.size = fi.RenderedSize
				if pc.size <= 0 {
					pc.size = fi.Size
				}
				pc.bold = fi.Weight >= 600 || strings.Contains(strings.ToLower(fi.Name), "bold")
				pc.mono = fi.Flags&1 != 0 || isMonoFontName(fi.Name)
			}
			chars = append(chars, pc)
		}
		pages[i] = pdfLines(chars)
	}

	var b docBuilder
	layoutPDF(&b, pages)
	if len(b.blocks) == 0 {
		return nil, fmt.Errorf("%w: the PDF's %d pages have no text layer (scanned?)", ErrEmpty, count.PageCount)
	}
	meta := map[string]any{"pages": float64(count.PageCount)}
	info := func(tag string) string {
		r, err := inst.FPDF_GetMetaText(&requests.FPDF_GetMetaText{Document: doc, Tag: tag})
		if err != nil {
			return ""
		}
		return strings.TrimSpace(strings.Map(cleanRune, r.Value))
	}
	for _, tag := range []string{"Author", "Subject", "Keywords"} {
		if v := info(tag); v != "" {
			meta[strings.ToLower(tag)] = v
		}
	}
	for tag, key := range map[string]string{"CreationDate": "created", "ModDate": "modified"} {
		if t, ok := parsePDFDate(info(tag)); ok {
			meta[key] = t.Format(time.RFC3339)
		}
	}
	title := cleanPDFTitle(info("Title"))
	if title == "" {
		title = b.firstH1
	}
	return b.document(title, meta)
}

// pdfErrorText words PDFium's errors ("3: incorrect format") for a user.
func pdfErrorText(err error) string {
	switch {
	case errors.Is(err, pdfiumerrors.ErrFormat):
		return "not a valid PDF (damaged or truncated file)"
	case errors.Is(err, pdfiumerrors.ErrFile):
		return "cannot read the file"
	case errors.Is(err, pdfiumerrors.ErrPage):
		return "damaged page"
	}
	return err.Error()
}

// isMonoFontName reports whether a font's name says fixed pitch, for PDFs
// whose font descriptors do not (TeX's do not).
func isMonoFontName(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"mono", "nimbusmon", "courier", "cmtt", "lmtt", "consol", "menlo", "typewriter", "code", "fixed", "lettergothic"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// cleanPDFTitle drops the titles that word processors put by default.
func cleanPDFTitle(t string) string {
	t = strings.TrimPrefix(t, "Microsoft Word - ")
	l := strings.ToLower(t)
	for _, ext := range []string{".doc", ".docx", ".odt", ".rtf", ".tex", ".dvi", ".indd", ".pdf"} {
		if strings.HasSuffix(l, ext) {
			return ""
		}
	}
	if l == "untitled" || l == "title" {
		return ""
	}
	return t
}

// parsePDFDate parses a PDF date: "D:YYYYMMDDHHmmSSOHH'mm'", every part
// after the year optional.
func parsePDFDate(s string) (time.Time, bool) {
	s = strings.TrimPrefix(s, "D:")
	s = strings.ReplaceAll(s, "'", "")
	if len(s) < 4 {
		return time.Time{}, false
	}
	digits := len(s)
	for i, r := range s {
		if r < '0' || r > '9' {
			digits = i
			break
		}
	}
	layout := "20060102150405"
	if digits > len(layout) || digits < 4 || digits%2 != 0 {
		return time.Time{}, false
	}
	zone := s[digits:]
	t, err := time.Parse(layout[:digits], s[:digits])
	if err != nil {
		return time.Time{}, false
	}
	if len(zone) == 5 && (zone[0] == '+' || zone[0] == '-') {
		z, err := time.Parse("-0700", zone)
		if err == nil {
			_, off := z.Zone()
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.FixedZone("", off))
		}
	}
	return t, true
}
