package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports an ingest's progress on stderr: a bar on a terminal
// (files, chunks, chunks/s, ETA), a line every few seconds otherwise, or
// nothing. It is safe for concurrent use.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	bar   *progressbar.ProgressBar

	mu     sync.Mutex
	files  int // guarded by mu
	nchunk int // guarded by mu
	last   time.Time
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// lineEvery is how often the plain progress lines come.
const lineEvery = 5 * time.Second

func newProgress(w io.Writer, mode string, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now(), done: make(chan struct{})}
	if mode == "auto" {
		mode = "lines"
		if isTerminal(w) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("ingest"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("files"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	case "lines":
		p.wg.Add(1)
		go p.lines()
	default:
		p.w = io.Discard
	}
	return p
}

func (p *progress) lines() {
	defer p.wg.Done()
	t := time.NewTicker(lineEvery)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			files, chunks := p.files, p.nchunk
			p.mu.Unlock()
			el := time.Since(p.start).Seconds()
			fmt.Fprintf(p.w, "ingest: %d/%d files, %d chunks, %.0f chunks/s, %.0f s\n", files, p.total, chunks, float64(chunks)/el, el)
		}
	}
}

// fileDone counts a finished file: written, skipped or failed.
func (p *progress) fileDone() {
	p.mu.Lock()
	p.files++
	c := p.nchunk
	p.mu.Unlock()
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%d chunks, %.0f chunks/s", c, float64(c)/time.Since(p.start).Seconds()))
		_ = p.bar.Add(1)
	}
}

// chunks counts chunks written.
func (p *progress) chunks(n int) {
	p.mu.Lock()
	p.nchunk += n
	p.mu.Unlock()
}

// stop ends the report; safe to call more than once.
func (p *progress) stop() {
	p.once.Do(func() {
		close(p.done)
		p.wg.Wait()
		if p.bar != nil {
			_ = p.bar.Finish()
		}
	})
}
