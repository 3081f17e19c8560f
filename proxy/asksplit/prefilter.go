package asksplit

// MightContainASK is the relay's cheap check on a Query text: it returns false only when Split
// would find no ASK in b (neither a statement nor a parenthesised one) and no TEACH statement,
// so texts for which it returns false can be relayed untouched. It does not allocate.
//
// It looks for the word ASK (any case, not inside a longer word, followed by white space, the
// end, ';', a quote or a comment) whose previous non-white-space byte is absent, ';', '(', or
// '/' (the end of a block comment), or which is preceded by a line break (the end of a line
// comment) or by the word EXPLAIN. Quotes and comments are not lexed, so an ASK inside a string literal may
// give a false positive; Split then decides.
func MightContainASK(b []byte) bool {
	// Every three-byte window holds exactly one multiple of 3: look at those bytes only.
	for i := 0; i < len(b); i += 3 {
		var start int
		switch b[i] | 0x20 {
		case 'a':
			start = i
			if teachAt(b, i-2) {
				return true
			}
		case 's':
			start = i - 1
		case 'k':
			start = i - 2
		case 'c': // TEACH: one of its letters a, c, h is at a multiple of 3 ('a' above); t
			// and e, more frequent in SQL, are not looked at
			if teachAt(b, i-3) {
				return true
			}
			continue
		case 'h':
			if teachAt(b, i-4) {
				return true
			}
			continue
		default:
			continue
		}
		if start < 0 || start+3 > len(b) ||
			b[start]|0x20 != 'a' || b[start+1]|0x20 != 's' || b[start+2]|0x20 != 'k' {
			continue
		}
		if start > 0 && isIdentCont(b[start-1]) {
			continue
		}
		if !askEnds(b[start+3:]) {
			continue
		}
		if askContext(b, start) {
			return true
		}
	}
	return false
}

// teachAt reports whether the word TEACH (any case, a whole word) starts at i where a
// statement could start.
func teachAt(b []byte, i int) bool {
	const w = "teach"
	if i < 0 || i+len(w) > len(b) || i > 0 && isIdentCont(b[i-1]) {
		return false
	}
	for n := 0; n < len(w); n++ {
		if b[i+n]|0x20 != w[n] {
			return false
		}
	}
	if i+len(w) < len(b) && isIdentCont(b[i+len(w)]) {
		return false
	}
	return askContext(b, i)
}

// askContext reports whether a statement or a parenthesised group could start with the word at i.
func askContext(b []byte, i int) bool {
	j := i - 1
	for ; j >= 0 && isSpace(b[j]); j-- {
		if b[j] == '\n' || b[j] == '\r' {
			return true
		}
	}
	if j < 0 {
		return true
	}
	switch b[j] {
	case ';', '(', '/':
		return true
	}
	// EXPLAIN ASK
	const w = "explain"
	k := j + 1 - len(w)
	if k < 0 || k > 0 && isIdentCont(b[k-1]) {
		return false
	}
	for n := 0; n < len(w); n++ {
		if b[k+n]|0x20 != w[n] {
			return false
		}
	}
	return true
}
