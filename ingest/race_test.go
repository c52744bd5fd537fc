//go:build race

package ingest

// Under -race, compiling PDFium's WebAssembly takes about a minute (the
// compiler is instrumented Go code), so the race build interprets it and
// tests only small PDFs.
func init() {
	raceEnabled = true
	pdfInterpreter = true
}
