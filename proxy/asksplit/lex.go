package asksplit

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrUnterminated is wrapped by the *SyntaxError Split returns for a quote, comment or
// parenthesised ASK that the text never closes.
var ErrUnterminated = errors.New("unterminated")

// SyntaxError says what was left open and where it started (a byte offset in the Query text).
type SyntaxError struct {
	What   string // "quoted string", "quoted identifier", "dollar-quoted string", "/* comment", "parenthesised ASK"
	Offset int
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("unterminated %s at offset %d", e.What, e.Offset)
}

// Unwrap makes errors.Is(err, ErrUnterminated) hold.
func (e *SyntaxError) Unwrap() error { return ErrUnterminated }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// isIdentStart reports whether c may start an identifier or key word (bytes of multi-byte UTF-8
// characters count as letters, as in PostgreSQL's scanner).
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentCont(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '$'
}

// identEnd returns the end of the identifier or number that starts at i.
func identEnd(s string, i int) int {
	for i < len(s) && isIdentCont(s[i]) {
		i++
	}
	return i
}

// skipComment returns the end of the comment that starts at i, or i when none starts there.
// A block comment left open is an error; PostgreSQL nests block comments.
func skipComment(s string, i int) (int, error) {
	if i+1 >= len(s) {
		return i, nil
	}
	switch {
	case s[i] == '-' && s[i+1] == '-':
		j := i + 2
		for j < len(s) && s[j] != '\n' && s[j] != '\r' {
			j++
		}
		return j, nil
	case s[i] == '/' && s[i+1] == '*':
		depth := 1
		j := i + 2
		for j < len(s) {
			if j+1 < len(s) && s[j] == '/' && s[j+1] == '*' {
				depth++
				j += 2
				continue
			}
			if j+1 < len(s) && s[j] == '*' && s[j+1] == '/' {
				depth--
				j += 2
				if depth == 0 {
					return j, nil
				}
				continue
			}
			j++
		}
		return len(s), &SyntaxError{What: "/* comment", Offset: i}
	}
	return i, nil
}

// skipSpaceAndComments returns the position of the first byte at or after i that is neither
// white space nor part of a comment.
func skipSpaceAndComments(s string, i int) (int, error) {
	for i < len(s) {
		if isSpace(s[i]) {
			i++
			continue
		}
		j, err := skipComment(s, i)
		if err != nil {
			return j, err
		}
		if j == i {
			return i, nil
		}
		i = j
	}
	return i, nil
}

// quoteKind tells the quoted tokens apart.
type quoteKind int

const (
	notQuoted    quoteKind = iota
	plainString            // '…', '' escapes a quote
	escapeString           // E'…', backslash escapes and '' both escape
	quotedIdent            // "…", "" escapes a quote
	dollarQuote            // $tag$…$tag$
)

// quoteAt reports the kind of quoted token starting at i and, for a dollar quote, the length of
// its delimiter. prevIdent says whether the byte before i continues an identifier (then neither
// E'…' nor $tag$ can start at i).
func quoteAt(s string, i int, prevIdent bool) (quoteKind, int) {
	switch c := s[i]; {
	case c == '\'':
		return plainString, 1
	case c == '"':
		return quotedIdent, 1
	case (c == 'e' || c == 'E') && !prevIdent && i+1 < len(s) && s[i+1] == '\'':
		return escapeString, 2
	case c == '$' && !prevIdent:
		if n := dollarTagLen(s, i); n > 0 {
			return dollarQuote, n
		}
	}
	return notQuoted, 0
}

// dollarTagLen returns the length of the dollar-quote delimiter ($$ or $tag$) at i, or 0.
func dollarTagLen(s string, i int) int {
	j := i + 1
	if j < len(s) && s[j] == '$' {
		return 2
	}
	if j >= len(s) || !isIdentStart(s[j]) {
		return 0 // $1 is a parameter, a lone $ an error for the server
	}
	for j < len(s) && (isIdentStart(s[j]) || s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j < len(s) && s[j] == '$' {
		return j + 1 - i
	}
	return 0
}

// quotedEnd returns the end of the quoted token of the given kind starting at i (delim is the
// length of its opening delimiter).
func quotedEnd(s string, i int, kind quoteKind, delim int) (int, error) {
	switch kind {
	case dollarQuote:
		tag := s[i : i+delim]
		k := strings.Index(s[i+delim:], tag)
		if k < 0 {
			return len(s), &SyntaxError{What: "dollar-quoted string", Offset: i}
		}
		return i + delim + k + delim, nil
	case quotedIdent, plainString, escapeString:
		q := byte('\'')
		what := "quoted string"
		if kind == quotedIdent {
			q, what = '"', "quoted identifier"
		}
		j := i + delim
		for j < len(s) {
			switch {
			case kind == escapeString && s[j] == '\\':
				j += 2
			case s[j] == q:
				if j+1 < len(s) && s[j+1] == q {
					j += 2
					continue
				}
				return j + 1, nil
			default:
				j++
			}
		}
		return len(s), &SyntaxError{What: what, Offset: i}
	}
	return i, nil
}

// unquote returns the content of the quoted token s (a whole token of the given kind).
func unquote(s string, kind quoteKind, delim int) string {
	switch kind {
	case dollarQuote:
		return s[delim : len(s)-delim]
	case plainString:
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	case quotedIdent:
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	case escapeString:
		return unescape(s[2 : len(s)-1])
	}
	return s
}

// unescape decodes the body of an E'…' string: \b \f \n \r \t, \ooo octal, \xhh hex, \uXXXX,
// \UXXXXXXXX, ” for a quote, and a backslash before any other character stands for that
// character. Invalid code points become U+FFFD.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' && i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := 0, 0
			for n < 3 && i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '7' {
				v = v*8 + int(s[i+n]-'0')
				n++
			}
			b.WriteByte(byte(v))
			i += n - 1
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1+n < len(s) && hexVal(s[i+1+n]) >= 0 {
				v = v*16 + hexVal(s[i+1+n])
				n++
			}
			if n == 0 {
				b.WriteByte('x')
				continue
			}
			b.WriteByte(byte(v))
			i += n
		case 'u', 'U':
			want := 4
			if c == 'U' {
				want = 8
			}
			v, n := 0, 0
			for n < want && i+1+n < len(s) && hexVal(s[i+1+n]) >= 0 {
				v = v*16 + hexVal(s[i+1+n])
				n++
			}
			if n < want {
				b.WriteByte(c)
				continue
			}
			if !utf8.ValidRune(rune(v)) {
				v = utf8.RuneError
			}
			b.WriteRune(rune(v))
			i += n
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// wordAt reports whether the key word w (lower case ASCII) starts at i as a whole word.
func wordAt(s string, i int, w string) bool {
	if i+len(w) > len(s) || !strings.EqualFold(s[i:i+len(w)], w) {
		return false
	}
	return i+len(w) == len(s) || !isIdentCont(s[i+len(w)])
}

// askAt reports whether the word ASK starts a question at i: ASK followed by white space, the
// end, ';', a quote or a comment (where PostgreSQL's lexer ends the word too). It returns the
// position after the word.
func askAt(s string, i int) (int, bool) {
	if i+3 > len(s) || !strings.EqualFold(s[i:i+3], "ask") {
		return i, false
	}
	if askEnds(s[i+3:]) {
		return i + 3, true
	}
	return i, false
}

// askEnds reports whether rest, the text after the letters ASK, ends the word as a question.
func askEnds[T string | []byte](rest T) bool {
	if len(rest) == 0 {
		return true
	}
	switch c := rest[0]; {
	case isSpace(c), c == ';', c == '\'', c == '"':
		return true
	case len(rest) > 1 && (c == '-' && rest[1] == '-' || c == '/' && rest[1] == '*'):
		return true
	}
	return false
}

// trimSpace trims PostgreSQL's white space (ASCII only, unlike strings.TrimSpace).
func trimSpace(s string) string { return strings.Trim(s, " \t\n\r\f\v") }
