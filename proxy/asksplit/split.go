package asksplit

import "strings"

// Statement is one statement of a Query text.
type Statement struct {
	// Text is the statement: from its first byte that is not white space (leading comments
	// included) to the end of its last token, so trailing white space and comments before the
	// terminating ';' are left out and texts can be joined with ";". For a quoted ASK it ends
	// with the closing quote; an unquoted question runs to the end of the Query text (a
	// trailing ';' dropped), comments included, as they are prose. Text == query[Start:End].
	Text       string
	Start, End int

	// IsASK is set for a question (ASK … or EXPLAIN ASK …), DryRun for EXPLAIN ASK.
	IsASK, DryRun bool
	// Question is the question of an ASK: unquoted and trimmed of white space (for an unquoted
	// question also of trailing ';'). Empty for `ASK;`.
	Question string
	// Quoted says the question was written as a quoted string ('…', E'…', $$…$$ or "…").
	Quoted bool

	// Embedded lists the parenthesised ASKs of a statement that is not itself an ASK, in order
	// (Tableau's `SELECT * FROM (ASK …) "Custom SQL Query"`).
	Embedded []Embedded

	// FollowUp is set for an ASK (not EXPLAIN ASK's dry run alone: both) whose question starts
	// with the word "and" or "but": it refines the session's previous question.
	FollowUp bool

	// IsTeach is set for `TEACH <quoted question> AS <SQL>`: Question (Quoted set) and
	// TeachSQL (the SQL after AS, to the end of the statement) are the pair to store. A TEACH
	// statement of any other shape has IsTeach set and Question and TeachSQL empty.
	IsTeach  bool
	TeachSQL string
}

// Embedded is a parenthesised ASK inside a statement.
type Embedded struct {
	Question string
	Quoted   bool
	// Start and End span the whole group in the Query text, from '(' to ')' inclusive: replace
	// query[Start:End] with "(" + generatedSQL + ")".
	Start, End int
}

// Split cuts a simple-protocol Query text into statements and finds the ASKs among them (see
// the package documentation for the rules). Statements that hold only white space and comments
// are left out, as the server skips them. On an unterminated quote or comment it returns the
// statements found, the last one running to the end of the text, and a *SyntaxError.
func Split(text string) ([]Statement, error) {
	var out []Statement
	i := 0
	for i < len(text) {
		start := i
		for start < len(text) && isSpace(text[start]) {
			start++
		}
		p, err := skipSpaceAndComments(text, start)
		if err != nil {
			out = append(out, stmt(text, start, len(text)))
			return out, err
		}
		if p == len(text) {
			break
		}
		if text[p] == ';' {
			i = p + 1
			continue
		}

		q, dry := p, false
		if wordAt(text, p, "explain") {
			if r, err := skipSpaceAndComments(text, p+len("explain")); err == nil {
				if _, ok := askAt(text, r); ok {
					q, dry = r, true
				}
			}
		}
		if after, ok := askAt(text, q); ok {
			a := question(text, after)
			st := stmt(text, start, a.end)
			st.IsASK, st.DryRun, st.Question, st.Quoted = true, dry, a.question, a.quoted
			st.FollowUp = isFollowUp(a.question)
			out = append(out, st)
			i = a.next
			continue
		}
		if !dry && wordAt(text, p, "teach") {
			semi, st, err := teach(text, start, p)
			out = append(out, st)
			if err != nil {
				return out, err
			}
			i = semi
			continue
		}

		semi, last, emb, err := scanStatement(text, p)
		end := last
		if err != nil {
			end = len(text)
		}
		st := stmt(text, start, end)
		st.Embedded = emb
		out = append(out, st)
		if err != nil {
			return out, err
		}
		i = semi
	}
	return out, nil
}

func stmt(text string, start, end int) Statement {
	return Statement{Text: text[start:end], Start: start, End: end}
}

type asked struct {
	question  string
	quoted    bool
	end, next int // end of the statement's text; where splitting goes on
}

// question reads the question of an ASK whose word ends at after.
func question(s string, after int) asked {
	r := after
	for r < len(s) && isSpace(s[r]) {
		r++
	}
	if r == len(s) {
		return asked{end: after, next: len(s)}
	}
	if s[r] == ';' {
		return asked{end: after, next: r + 1}
	}
	if kind, delim := quoteAt(s, r, false); kind != notQuoted {
		if qe, err := quotedEnd(s, r, kind, delim); err == nil {
			if t, err := skipSpaceAndComments(s, qe); err == nil && (t == len(s) || s[t] == ';') {
				next := t
				if t < len(s) {
					next++
				}
				return asked{question: trimSpace(unquote(s[r:qe], kind, delim)), quoted: true, end: qe, next: next}
			}
		}
	}
	// Unquoted: prose to the end of the text, a trailing ';' dropped.
	e := len(s)
	for e > after && (isSpace(s[e-1]) || s[e-1] == ';') {
		e--
	}
	return asked{question: trimSpace(s[after:e]), end: e, next: len(s)}
}

// scanStatement lexes the statement whose first token is at i up to its terminating ';' (or the
// end of the text), returning that position, the end of the statement's last token (trailing
// comments are not part of the statement) and the parenthesised ASKs found on the way.
func scanStatement(s string, i int) (semi, last int, emb []Embedded, err error) {
	lastWord := -1 // start of the previous token when it was a word, else -1
	lastEnd := -1  // end of that word
	var fn routineBody
	for i < len(s) {
		c := s[i]
		if c == ';' && fn.depth == 0 {
			return i, last, emb, nil
		}
		if isSpace(c) {
			i++
			continue
		}
		if j, err := skipComment(s, i); err != nil {
			return len(s), last, emb, err
		} else if j > i {
			i = j
			continue
		}
		if kind, delim := quoteAt(s, i, false); kind != notQuoted {
			j, err := quotedEnd(s, i, kind, delim)
			if err != nil {
				return len(s), last, emb, err
			}
			i, lastWord, last = j, -1, j
			continue
		}
		if isIdentCont(c) && c != '$' {
			j := identEnd(s, i)
			lastWord, lastEnd = -1, j
			if isIdentStart(c) {
				lastWord = i
				fn.word(s[i:j])
			}
			i, last = j, j
			continue
		}
		if c == '(' && lastWord >= 0 && opensSubquery(s[lastWord:lastEnd]) {
			if r, err := skipSpaceAndComments(s, i+1); err == nil {
				if after, ok := askAt(s, r); ok {
					e, err := parenQuestion(s, i, after)
					if err != nil {
						return len(s), last, emb, err
					}
					emb = append(emb, e)
					i, lastWord, last = e.End, -1, e.End
					continue
				}
			}
		}
		switch c {
		case '(':
			fn.parens++
		case ')':
			fn.parens--
		}
		i++
		lastWord, last = -1, i
	}
	return len(s), last, emb, nil
}

// routineBody follows psql's heuristic for SQL-standard routine bodies: in a statement that
// starts CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN (and, inside it, CASE) opens a block
// that END closes, outside parentheses, and a ';' inside such a block does not end the
// statement (CREATE FUNCTION f() … BEGIN ATOMIC SELECT 1; SELECT 2; END).
type routineBody struct {
	words  int
	lead   [4]byte // first letters of the leading words create/or/replace/function/procedure
	parens int
	depth  int
}

func (r *routineBody) word(w string) {
	if r.words < len(r.lead) {
		for _, k := range []string{"create", "or", "replace", "function", "procedure"} {
			if strings.EqualFold(w, k) {
				r.lead[r.words] = k[0]
			}
		}
	}
	r.words++
	l := r.lead
	routine := l[0] == 'c' && (l[1] == 'f' || l[1] == 'p' || l[1] == 'o' && l[2] == 'r' && (l[3] == 'f' || l[3] == 'p'))
	if !routine || r.parens != 0 {
		return
	}
	switch {
	case strings.EqualFold(w, "begin"):
		r.depth++
	case strings.EqualFold(w, "case"):
		if r.depth > 0 {
			r.depth++
		}
	case strings.EqualFold(w, "end"):
		if r.depth > 0 {
			r.depth--
		}
	}
}

func opensSubquery(word string) bool {
	return strings.EqualFold(word, "from") || strings.EqualFold(word, "join") || strings.EqualFold(word, "as")
}

// parenQuestion reads the question of a parenthesised ASK: '(' at open, the word ASK ending at
// after.
func parenQuestion(s string, open, after int) (Embedded, error) {
	r := after
	for r < len(s) && isSpace(s[r]) {
		r++
	}
	if r < len(s) {
		if kind, delim := quoteAt(s, r, false); kind != notQuoted {
			if qe, err := quotedEnd(s, r, kind, delim); err == nil {
				if t, err := skipSpaceAndComments(s, qe); err == nil && t < len(s) && s[t] == ')' {
					return Embedded{Question: trimSpace(unquote(s[r:qe], kind, delim)), Quoted: true, Start: open, End: t + 1}, nil
				}
			}
		}
	}
	depth := 0
	for j := after; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				q := strings.TrimRight(trimSpace(s[after:j]), "; \t\n\r\f\v")
				return Embedded{Question: q, Start: open, End: j + 1}, nil
			}
			depth--
		}
	}
	return Embedded{}, &SyntaxError{What: "parenthesised ASK", Offset: open}
}

// isFollowUp reports whether a question starts with the word "and" or "but" (any case).
func isFollowUp(q string) bool {
	return wordAt(q, 0, "and") || wordAt(q, 0, "but")
}

// teach reads a TEACH statement whose word starts at word: a quoted question, the word AS and
// the SQL, which is lexed as SQL up to its ';' (or the end of the text). It returns where
// splitting goes on.
func teach(s string, start, word int) (int, Statement, error) {
	after := word + len("teach")
	semi, last, _, err := scanStatement(s, word)
	end := last
	if err != nil {
		end = len(s)
	}
	st := stmt(s, start, end)
	st.IsTeach = true
	if err != nil {
		return semi, st, err
	}
	r, err := skipSpaceAndComments(s, after)
	if err != nil || r >= end {
		return semi, st, nil
	}
	kind, delim := quoteAt(s, r, false)
	if kind == notQuoted {
		return semi, st, nil
	}
	qe, err := quotedEnd(s, r, kind, delim)
	if err != nil {
		return semi, st, nil
	}
	as, err := skipSpaceAndComments(s, qe)
	if err != nil || !wordAt(s, as, "as") {
		return semi, st, nil
	}
	body, err := skipSpaceAndComments(s, as+len("as"))
	if err != nil || body >= end {
		return semi, st, nil
	}
	st.Question, st.Quoted, st.TeachSQL = trimSpace(unquote(s[r:qe], kind, delim)), true, s[body:end]
	return semi, st, nil
}
