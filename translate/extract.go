package translate

import (
	"errors"
	"strings"
	"unicode"
)

// errNoSQL is returned by Extract when the completion holds no SQL at all.
var errNoSQL = errors.New("the model's answer contains no SQL")

// Extract returns the SQL statement in a model's completion (the text generated after the
// prompt). It drops a Markdown fence or [SQL] marker around the statement and prose before it,
// and cuts the statement at the first `;`, closing fence, [/SQL] marker or end-of-turn token
// outside quotes and comments, or at a blank line followed by prose. The statement is returned
// without its `;`. A completion that starts with "I do not know" (or "I don't know") yields
// ErrUnanswerable; one without any SQL yields an error.
func Extract(completion string) (string, error) {
	s := strings.TrimSpace(completion)
	s = strings.TrimSpace(strings.TrimPrefix(s, "[SQL]"))
	if rest, ok := strings.CutPrefix(s, "```"); ok {
		// Drop the fence's info string ("sql", "postgresql", ...).
		if i := strings.IndexByte(rest, '\n'); i >= 0 && !startsSQL(rest) {
			rest = rest[i+1:]
		}
		s = strings.TrimSpace(rest)
	}
	if unanswerable(s) {
		return "", ErrUnanswerable
	}
	start := findSQLStart(s)
	if start < 0 {
		return "", errNoSQL
	}
	sql := strings.TrimSpace(cutStatement(s[start:]))
	if sql == "" {
		return "", errNoSQL
	}
	return sql, nil
}

func unanswerable(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n'\"`")
	for _, p := range []string{"i do not know", "i don't know", "i don’t know", "i dont know"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

// startsSQL reports whether s starts with SELECT, WITH or an opening parenthesis.
func startsSQL(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	if strings.HasPrefix(s, "(") {
		return true
	}
	for _, kw := range []string{"select", "with"} {
		if len(s) >= len(kw) && strings.EqualFold(s[:len(kw)], kw) &&
			(len(s) == len(kw) || !isIdentByte(s[len(kw)])) {
			return true
		}
	}
	return false
}

// statementWords start SQL statements other than SELECT: a completion that starts with one is
// returned as is, for the static check to refuse, rather than searched for a SELECT.
var statementWords = map[string]bool{
	"insert": true, "update": true, "delete": true, "merge": true, "drop": true, "create": true,
	"alter": true, "truncate": true, "grant": true, "revoke": true, "copy": true, "call": true,
	"do": true, "set": true, "reset": true, "begin": true, "commit": true, "rollback": true,
	"vacuum": true, "analyze": true, "lock": true, "explain": true, "show": true, "values": true,
	"table": true, "listen": true, "notify": true, "prepare": true, "execute": true, "discard": true,
	"refresh": true, "cluster": true, "reindex": true, "comment": true, "security": true, "load": true,
}

// findSQLStart returns the offset of the statement: 0 when s starts with SELECT, WITH, '(' or
// another statement's key word, else the start of the first line that starts with SELECT or
// WITH, else the first word SELECT; -1 when none.
func findSQLStart(s string) int {
	end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(s)
	}
	if startsSQL(s) || statementWords[strings.ToLower(s[:end])] {
		return 0
	}
	off := 0
	for _, line := range strings.SplitAfter(s, "\n") {
		if startsSQL(line) {
			return off + len(line) - len(strings.TrimLeft(line, " \t\r\n"))
		}
		off += len(line)
	}
	lower := asciiLower(s) // same length as s, unlike strings.ToLower on invalid UTF-8
	for i := 0; ; {
		j := strings.Index(lower[i:], "select")
		if j < 0 {
			return -1
		}
		j += i
		end := j + len("select")
		if (j == 0 || !isIdentByte(s[j-1])) && (end == len(s) || !isIdentByte(s[end])) {
			return j
		}
		i = end
	}
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// terminators end a statement where they occur outside quotes and comments.
var terminators = []string{";", "```", "[/SQL]", "<|eot_id|>", "<|im_end|>", "</s>"}

// continuation words may start a line after a blank line inside a statement.
var continuation = map[string]bool{
	"select": true, "from": true, "where": true, "join": true, "left": true, "right": true, "inner": true,
	"full": true, "cross": true, "on": true, "and": true, "or": true, "not": true, "group": true,
	"having": true, "order": true, "limit": true, "offset": true, "union": true, "intersect": true,
	"except": true, "window": true, "with": true, "as": true, "case": true, "when": true, "then": true,
	"else": true, "end": true, "fetch": true, "using": true, "natural": true, "lateral": true,
}

// cutStatement returns s up to its first terminator outside quotes and comments. It knows
// Postgres' quoting: '…' (a doubled quote inside), E'…' (backslash escapes), "…", $tag$…$tag$, -- line
// comments and nested /* */ comments. An unterminated quote runs to the end.
func cutStatement(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'':
			esc := i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !isIdentByte(s[i-2]))
			i = skipQuoted(s, i+1, '\'', esc)
		case c == '"':
			i = skipQuoted(s, i+1, '"', false)
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return s
			}
			i += j
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			i = skipBlockComment(s, i)
		case c == '$' && (i == 0 || !isIdentByte(s[i-1])):
			if tag, ok := dollarTag(s[i:]); ok {
				j := strings.Index(s[i+len(tag):], tag)
				if j < 0 {
					return s
				}
				i += len(tag) + j + len(tag)
				continue
			}
			i++
		case c == '\n' && blankLineThenProse(s[i:]):
			return s[:i]
		default:
			for _, t := range terminators {
				if strings.HasPrefix(s[i:], t) {
					return s[:i]
				}
			}
			i++
		}
	}
	return s
}

func skipQuoted(s string, i int, q byte, backslash bool) int {
	for i < len(s) {
		switch {
		case backslash && s[i] == '\\':
			i += 2
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			i += 2
		case s[i] == q:
			return i + 1
		default:
			i++
		}
	}
	return len(s)
}

func skipBlockComment(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(s)
}

// dollarTag returns the $tag$ at the start of s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1], true
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || j > 1 && c >= '0' && c <= '9') {
			return "", false
		}
	}
	return "", false
}

// blankLineThenProse reports whether s (starting at a newline) is a blank line followed by a
// line that does not continue a SQL statement.
func blankLineThenProse(s string) bool {
	rest := strings.TrimLeft(s[1:], " \t\r")
	if !strings.HasPrefix(rest, "\n") {
		return false
	}
	rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
	if rest == "" {
		return true
	}
	if strings.HasPrefix(rest, ")") || strings.HasPrefix(rest, "(") || strings.HasPrefix(rest, "--") {
		return false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return !(unicode.IsLetter(r) || r == '_') })
	if end < 0 {
		end = len(rest)
	}
	return !continuation[strings.ToLower(rest[:end])]
}

// ExtractLastFence returns the SQL of the last ```sql block of a completion, for models that
// reason before they answer (the reasoning may hold drafts). A completion whose last block is
// not closed yields that block's text so far; one without any ```sql block is read as Extract
// reads it, after any reasoning (<think>…</think>) is dropped.
func ExtractLastFence(completion string) (string, error) {
	s := completion
	if i := strings.LastIndex(s, "</think>"); i >= 0 {
		s = s[i+len("</think>"):]
	}
	i := strings.LastIndex(completion, "```sql")
	if i < 0 {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "<answer>")), "</answer>"))
		return Extract(s)
	}
	body := completion[i+len("```sql"):]
	if j := strings.Index(body, "```"); j >= 0 {
		body = body[:j]
	}
	return Extract(body)
}
