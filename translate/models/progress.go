package models

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// TerminalProgress returns f when it is a terminal and nil otherwise, for Store.Progress: a
// progress bar belongs on an interactive stderr, not in a log file.
func TerminalProgress(f *os.File) io.Writer {
	if f != nil && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// progress draws "name  42% [=====>     ] 1.2/4.8 GB 35.0 MB/s" at most every 200 ms.
type progress struct {
	w       io.Writer
	name    string
	done    int64
	total   int64
	start   time.Time
	startAt int64
	last    time.Time
	drawn   bool
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.w != nil && time.Since(p.last) >= 200*time.Millisecond {
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	p.last = time.Now()
	p.drawn = true
	rate := float64(p.done-p.startAt) / max(time.Since(p.start).Seconds(), 1e-3)
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r%s %s %s/s   ", p.name, bytesStr(p.done), bytesStr(int64(rate)))
		return
	}
	frac := min(float64(p.done)/float64(p.total), 1)
	const width = 30
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	fmt.Fprintf(p.w, "\r%s %3.0f%% [%s] %s/%s %s/s   ", p.name, frac*100, bar, bytesStr(p.done), bytesStr(p.total), bytesStr(int64(rate)))
}

func (p *progress) finish() {
	if p.w == nil {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
}

func bytesStr(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
