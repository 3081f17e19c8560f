package sqleval

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvReader reads CSV the way Python's csv module does with its default dialect (sql-eval's
// files are written and read with pandas): fields separated by ',', optionally quoted with '"',
// '""' inside quotes for a quote, line breaks allowed inside quotes, and — unlike encoding/csv,
// even with LazyQuotes — a quote that closes a quoted field but is followed by other text ends
// the quoting and the field goes on unquoted (the published advanced set relies on this:
// `"…intraday price changes". Return the ticker symbol…",…`).
type csvReader struct {
	r    *bufio.Reader
	line int
}

var errCSVEOF = errors.New("unexpected end of data inside a quoted field")

// read returns the next record, skipping empty lines; io.EOF at the end.
func (c *csvReader) read() ([]string, error) {
	const (
		startField = iota
		inField
		inQuoted
		quoteInQuoted
	)
	var (
		fields []string
		field  strings.Builder
		state  = startField
		begun  = false
	)
	startLine := c.line + 1
	for {
		b, err := c.r.ReadByte()
		if errors.Is(err, io.EOF) {
			switch {
			case state == inQuoted:
				return nil, fmt.Errorf("line %d: %w", startLine, errCSVEOF)
			case !begun:
				return nil, io.EOF
			}
			return append(fields, field.String()), nil
		}
		if err != nil {
			return nil, err
		}
		newline := b == '\n' || b == '\r'
		if newline {
			if b == '\r' && state != inQuoted {
				if next, err := c.r.Peek(1); err == nil && next[0] == '\n' {
					_, _ = c.r.ReadByte()
				}
			}
			if b == '\n' || state != inQuoted {
				c.line++
			}
		}
		switch state {
		case startField, inField, quoteInQuoted:
			switch {
			case newline:
				if !begun {
					continue // empty line
				}
				return append(fields, field.String()), nil
			case b == ',':
				fields = append(fields, field.String())
				field.Reset()
				state = startField
			case b == '"' && state == startField:
				state = inQuoted
			case b == '"' && state == quoteInQuoted:
				field.WriteByte('"')
				state = inQuoted
			default:
				field.WriteByte(b)
				state = inField
			}
		case inQuoted:
			if b == '"' {
				state = quoteInQuoted
			} else {
				field.WriteByte(b)
			}
		}
		begun = true
	}
}
